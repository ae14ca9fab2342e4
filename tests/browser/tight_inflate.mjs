// Inflates Tight zlib data as noVNC 1.7 does (its own Inflator, one per stream, reset by the
// compression-control bits): reads [[resets, stream, hex, size], ...] as JSON on stdin and
// prints "ok", or "fail INDEX: MESSAGE" for the first rectangle noVNC would reject.
import Inflator from "../../web/node_modules/@novnc/novnc/core/inflator.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const rectangles = JSON.parse(Buffer.concat(chunks).toString());
const streams = [0, 1, 2, 3].map(() => new Inflator());
let index = 0;
try {
  for (const [resets, stream, hex, size] of rectangles) {
    for (let bit = 0; bit < 4; bit++) if ((resets >> bit) & 1) streams[bit].reset();
    streams[stream].setInput(Buffer.from(hex, "hex"));
    streams[stream].inflate(size);
    streams[stream].setInput(null);
    index++;
  }
  console.log("ok");
} catch (error) {
  console.log(`fail ${index}: ${error.message}`);
}
