// A tool-call turn with openai-realtime-api (an npm port of the reference client, beta dialect).
// Usage: node weather_turn.mjs WS_URL  -> prints {"text": ..., "seen": [server event types]}
import { RealtimeClient } from 'openai-realtime-api'

const url = process.argv[2]
const client = new RealtimeClient({
  url,
  apiKey: process.env.RT_TEST_KEY,
  model: 'gpt-4o-realtime-preview-2024-12-17',
  sessionConfig: { modalities: ['text'], input_audio_transcription: null }
})
const seen = []
client.on('realtime.event', ({ source, event }) => {
  if (source === 'server') seen.push(event.type)
})
client.addTool(
  {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: { type: 'object', properties: { location: { type: 'string' } } }
  },
  async ({ location }) => ({ location, temp_c: 21, sky: 'sunny' })
)
// every wait starts before the action it waits for: an instant replay delivers at once
const answered = new Promise((resolve) => {
  client.on('conversation.item.completed', ({ item }) => {
    if (item.type === 'message' && item.role === 'assistant') resolve(item)
  })
})
const timer = setTimeout(() => {
  console.error('timed out; server events seen: ' + seen.join(' '))
  process.exit(3)
}, 10000)
await client.connect()
await client.waitForSessionCreated()
client.sendUserMessageContent([{ type: 'input_text', text: 'What is the weather in Paris?' }])
const item = await answered
clearTimeout(timer)
client.disconnect()
console.log(JSON.stringify({ text: item.formatted.text || item.formatted.transcript, seen }))
