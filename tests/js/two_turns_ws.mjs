// N two-turn sessions through a recording proxy with a raw `ws` client, one after another.
// Each turn (conversation.item.create + response.create) is sent in the same tick as the last
// event of the previous response is read, as the reference client does after a tool call.
// Usage: node two_turns_ws.mjs WS_URL N  -> one JSON line per session:
//   {"i": 0, "sent": [raw frames], "received": [raw frames]} or {"i": 0, "error": "..."}
import WebSocket from 'ws'

const [url, count] = process.argv.slice(2)

function session (i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['realtime', 'openai-insecure-api-key.placeholder'])
    const sent = []
    const received = []
    let turns = 0
    const timer = setTimeout(() => { ws.terminate(); resolve({ i, error: 'timed out', sent, received }) }, 20000)
    const send = (event) => { const raw = JSON.stringify(event); sent.push(raw); ws.send(raw) }
    const turn = () => {
      turns += 1
      send({ type: 'conversation.item.create', event_id: `evt_${i}_${turns}`, item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: `turn ${turns}` }] } })
      send({ type: 'response.create', event_id: `evt_${i}_${turns}r` })
    }
    ws.on('message', (data) => {
      const raw = data.toString()
      received.push(raw)
      const type = JSON.parse(raw).type
      if (type === 'session.created') turn()
      else if (type === 'rate_limits.updated') {
        if (turns < 2) turn()
        else { clearTimeout(timer); ws.close(); resolve({ i, sent, received }) }
      }
    })
    ws.on('error', (e) => { clearTimeout(timer); resolve({ i, error: String(e), sent, received }) })
  })
}

for (let i = 0; i < Number(count); i++) console.log(JSON.stringify(await session(i)))
