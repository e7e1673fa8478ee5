// The reference client's README pattern: a loop over waitForNextCompletedItem(), with
// openai-realtime-api (its port). Usage: node completed_items_loop.mjs WS_URL
// -> prints {"items": [types/roles of the completed items the loop saw], "answered": bool}
// after the assistant's answer, or after 3 s without it.
import { RealtimeClient } from 'openai-realtime-api'

const client = new RealtimeClient({
  url: process.argv[2],
  apiKey: 'placeholder',
  model: 'gpt-4o-realtime-preview-2024-12-17',
  sessionConfig: { modalities: ['text'], input_audio_transcription: null }
})
client.addTool(
  {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: { type: 'object', properties: { location: { type: 'string' } } }
  },
  async ({ location }) => ({ location, temp_c: 21, sky: 'sunny' })
)
const items = []
const done = (answered) => {
  console.log(JSON.stringify({ items, answered }))
  process.exit(0)
}
setTimeout(() => done(false), 3000)
await client.connect()
await client.waitForSessionCreated()
client.sendUserMessageContent([{ type: 'input_text', text: "What's the weather in Paris?" }])
for (;;) {
  const item = await client.waitForNextCompletedItem()
  items.push(item.role ?? item.type)
  if (item.role === 'assistant') break
}
client.disconnect()
done(true)
