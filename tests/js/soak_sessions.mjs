// The soak's node `ws` client (tests/soak/clients.py): one two-turn session per name, one
// after another, against the fake Realtime API (directly, through rtkit record, or replayed by
// rtkit serve). Turn 1 asks "hello" (a text answer); turn 2 asks about the weather (a function
// call), sends the tool's output and asks again. Each turn is sent in the same tick as the last
// frame of the previous response (rate_limits.updated) is read; with "one-write" its events are
// corked into one socket write; with "crossing" they are corked and sent on response.done, while
// rate_limits.updated is still on its way.
// Usage: node soak_sessions.mjs WS_URL NAME,NAME,... each|one-write|crossing
//   -> one JSON line per session: {"name", "sent": [raw frames], "received": [raw frames]}
//      and "error" when it failed.
import WebSocket from 'ws'

const [url, names, mode] = process.argv.slice(2)
const timeoutMs = Number(process.env.SOAK_TIMEOUT_MS || 20000)
const TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city.',
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] }
}
const RESULT = { location: 'Paris', temp_c: 21, sky: 'sunny' }
const user = (text) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] })

function turnEvents (name, responses, lastDone) {
  const event = (k, type, fields) => ({ type, event_id: `evt_${name}_${responses}_${k}`, ...fields })
  if (responses === 0) {
    return [event(0, 'session.update', { session: { type: 'realtime', output_modalities: ['text'], tools: [TOOL] } }),
      event(1, 'conversation.item.create', { item: user('hello') }),
      event(2, 'response.create')]
  }
  if (responses === 1) {
    return [event(0, 'conversation.item.create', { item: user("What's the weather in Paris?") }),
      event(1, 'response.create')]
  }
  if (responses === 2) {
    const call = lastDone.response.output[0]
    if (call.type !== 'function_call') throw new Error(`no function call: ${JSON.stringify(call)}`)
    return [event(0, 'conversation.item.create', { item: { type: 'function_call_output', call_id: call.call_id, output: JSON.stringify(RESULT) } }),
      event(1, 'response.create')]
  }
  return []
}

function session (name) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}?model=gpt-realtime&session=${name}`,
      ['realtime', 'openai-insecure-api-key.placeholder'], { perMessageDeflate: false, maxPayload: 0 })
    const sent = []
    const received = []
    let responses = 0
    let limits = 0
    let lastDone = null
    const turnOn = mode === 'crossing' ? 'response.done' : 'rate_limits.updated'
    const cork = mode === 'one-write' || mode === 'crossing'
    let timer
    const done = (error) => { clearTimeout(timer); resolve(error ? { name, sent, received, error } : { name, sent, received }) }
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => { ws.terminate(); done(`no frame for ${timeoutMs} ms`) }, timeoutMs) }
    arm()
    ws.on('message', (data) => {
      arm()
      const raw = data.toString()
      received.push(raw)
      const event = JSON.parse(raw)
      if (event.type === 'response.done') lastDone = event
      if (event.type === 'rate_limits.updated') limits += 1
      if (limits === 3) { // the last response's last frame: the session is over
        ws.once('close', () => done())
        ws.close()
        return
      }
      if (event.type !== 'session.created' && event.type !== turnOn) return
      if (event.type === turnOn) responses += 1
      let frames
      try {
        frames = turnEvents(name, responses, lastDone).map((e) => JSON.stringify(e))
      } catch (e) {
        ws.terminate()
        done(String(e))
        return
      }
      if (cork) ws._socket.cork()
      for (const frame of frames) { sent.push(frame); ws.send(frame) }
      if (cork) ws._socket.uncork()
    })
    ws.on('error', (e) => { ws.terminate(); done(String(e)) })
  })
}

for (const name of names.split(',')) console.log(JSON.stringify(await session(name)))
