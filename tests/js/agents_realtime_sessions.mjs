// @openai/agents-realtime (RealtimeSession over its WebSocket transport) in many sessions at
// once, in one node process: a text turn, then a question answered through a function tool.
// Usage: node agents_realtime_sessions.mjs WS_URL N QUESTION...
// -> prints one JSON line: a list of N results, each {"seen": [server event types],
//    "said": [...]} or {"error": "..."} (the session's error event, e.g. replay_mismatch).
import { RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime'

const [url, count, ...questions] = process.argv.slice(2)

const getWeather = tool({
  name: 'get_weather',
  description: 'Current weather for a city.',
  parameters: {
    type: 'object',
    properties: { location: { type: 'string' } },
    required: ['location'],
    additionalProperties: false
  },
  execute: async ({ location }) => JSON.stringify({ location, temp_c: 21, sky: 'sunny' })
})

function answers (history) {
  return history.filter((item) => item.type === 'message' && item.role === 'assistant' &&
    item.status === 'completed' && item.content.some((part) => part.text || part.transcript))
    .map((item) => item.content.map((part) => part.text ?? part.transcript ?? '').join(''))
}

async function converse () {
  const agent = new RealtimeAgent({ name: 'Weather', instructions: 'Answer briefly.', tools: [getWeather] })
  const session = new RealtimeSession(agent, {
    transport: 'websocket', model: 'gpt-realtime', config: { outputModalities: ['text'] }
  })
  const seen = []
  const said = []
  let failed = null
  let wake = () => {}
  let history = []
  session.on('transport_event', (event) => {
    if (event.type && !event.type.startsWith('connection') && event.type !== 'error') seen.push(event.type)
  })
  session.on('error', (event) => { failed = String(event.error?.error?.message ?? event.error?.message ?? JSON.stringify(event.error)); wake() })
  session.on('agent_tool_start', (ctx, agent, tool, details) => {
    said.push(`tool call: ${tool.name} ${details.toolCall.arguments}`)
  })
  session.on('history_updated', (items) => { history = items; wake() })
  await session.connect({ apiKey: 'placeholder', url: url + '?model=gpt-realtime' })
  try {
    for (let asked = 1; asked <= questions.length; asked++) {
      session.sendMessage(questions[asked - 1])
      // the answer after the asked-th question (a tool call comes first for the weather)
      const deadline = Date.now() + 20000
      while (!failed && answers(history).length < asked && Date.now() < deadline) {
        await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 200) })
      }
      if (failed) return { error: failed }
      const got = answers(history)
      if (got.length < asked) return { error: 'no answer within 20 s' }
      said.push(`assistant: ${got[asked - 1]}`)
    }
  } finally {
    session.close()
  }
  return { seen, said }
}

const results = await Promise.all(Array.from({ length: Number(count) }, () =>
  converse().catch((error) => ({ error: String(error) }))))
console.log(JSON.stringify(results))
process.exit(0)
