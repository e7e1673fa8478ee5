// `openai-realtime-api` (npm), a port of the reference client (openai-realtime-api-beta) that
// speaks the beta protocol: a text turn, then a question answered through a tool.
//
//   npm install openai-realtime-api@1.0.8
//   node realtime_api_port.mjs ws://127.0.0.1:8765/v1/realtime ["question" ...]
//
// The URL is what `rtkit record --listen`, `rtkit serve` or `rtkit fake` printed. Prints what
// was said, then one JSON line {"seen": [server event types], "said": [...]}; exits 1 on an
// `error` event (rtkit serve's replay_mismatch among them).
import { RealtimeClient } from 'openai-realtime-api'

const url = process.argv[2] ?? 'ws://127.0.0.1:8765/v1/realtime'
const questions = process.argv.length > 3
  ? process.argv.slice(3)
  : ['Hello!', "What's the weather in Paris?"]

const client = new RealtimeClient({
  url, // the full realtime URL
  apiKey: 'placeholder', // rtkit holds the real key (or needs none)
  model: 'gpt-4o-realtime-preview-2024-12-17',
  sessionConfig: { modalities: ['text'], input_audio_transcription: null }
})
const seen = []
client.on('realtime.event', ({ source, event }) => {
  if (source !== 'server') return
  seen.push(event.type)
  if (event.type === 'error') { // stop at once
    console.error(`${event.error.code}: ${event.error.message}`)
    process.exit(1)
  }
})
client.addTool( // the client runs it when the model calls it, and asks for a response
  {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: {
      type: 'object',
      properties: { location: { type: 'string' } },
      required: ['location']
    }
  },
  async ({ location }) => ({ location, temp_c: 21, sky: 'sunny' })
)
// Completed items, every one, in order. Not a loop over waitForNextCompletedItem(): that
// listens only from the moment it is called, and items completed in one burst (an instant
// replay, or a fast server) pass while the loop is between two calls (docs/clients.md).
const completed = []
let wake = null
client.on('conversation.item.completed', ({ item }) => {
  completed.push({ item, seen: seen.length })
  if (wake) wake()
})
async function nextCompleted () {
  while (completed.length === 0) await new Promise((resolve) => { wake = resolve })
  return completed.shift()
}

const said = []
let seenAtEnd = 0
await client.connect()
await client.waitForSessionCreated()
for (const question of questions) {
  client.sendUserMessageContent([{ type: 'input_text', text: question }])
  for (;;) {
    const { item, seen: at } = await nextCompleted()
    if (item.type === 'function_call') {
      said.push(`tool call: ${item.name} ${item.arguments}`)
    } else if (item.role === 'assistant') {
      said.push(`assistant: ${item.formatted.text}`)
      seenAtEnd = at
      break
    }
  }
}
client.disconnect()
console.log(said.join('\n'))
// the server events up to the answer (what came after it depends on when the socket closed)
console.log(JSON.stringify({ seen: seen.slice(0, seenAtEnd), said }))
