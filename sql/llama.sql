-- llama.sql: the forward pass of a Llama-family decoder (llama, qwen2), as
-- SQL.  `tensql import` instantiates it into the model's `program` table:
-- statements before `@layer` run once at the start of a step, the block
-- from `@layer` to `@final` runs once per layer with {L} set to the layer,
-- and the rest runs once at the end.  A statement after `@if-tensor NAME`
-- is kept only if the model has tensor NAME (qwen2's q/k/v biases), one
-- after `@unless-tensor NAME` only if it has not.
-- {output} is the output matrix: output.weight, or token_embd.weight when
-- the embeddings are tied.
--
-- A step runs these statements over the positions of `step` (i, pos,
-- token): one position when decoding, all of the prompt when prefilling.
-- Activations are rows in `act` (name, data), each a float32 matrix with
-- one row per position (or `rows` rows where a statement says so); the KV
-- cache is `kv` (layer, name, data).  A matrix product is the matmul
-- aggregate over the join of a weight tensor's tiles with an activation:
-- it hands each tile to the kernel threads as the join reaches it, and
-- waits once at the end.  (INSERT ... SELECT with GROUP BY w.tile_row,
-- the tile number into act's `tile` column, gives the same matrix a tile
-- at a time, but waits for every tile.)
--
-- A statement that reads act and writes act puts its one row in with
-- INSERT ... VALUES (name, (SELECT ...)): INSERT ... SELECT would first
-- copy the rows into a temporary table, SQLite's guard against reading
-- rows it is writing, at 5 us a statement and a copy of the matrix.
--
-- Edit a statement with UPDATE program SET sql = ... to change the model.

-- x: each position's token embedding.
INSERT INTO act(name, data)
SELECT 'x', embed(w.data, s.token, s.i)
  FROM step s JOIN "token_embd.weight" w ON w.row = s.token;

-- @layer
-- Attention block.  h = RMSNorm(x) * attn_norm
INSERT INTO act(name, data) VALUES ('h',
  (SELECT rmsnorm(x.data, w.data)
     FROM act x, "blk.{L}.attn_norm.weight" w WHERE x.name = 'x'));

-- q = h Wq + bq, rotated (RoPE) at each row's position.  qwen2 has the
-- q/k/v biases, llama not; a bias is its one tile's payload, read once per
-- statement.
-- @if-tensor blk.{L}.attn_q.bias
INSERT INTO act(name, data) VALUES ('q',
  (SELECT rope(tensor_add(matmul(w.data, h.data),
                          (SELECT bytes FROM "blk.{L}.attn_q.bias")),
               (SELECT pos FROM step WHERE i = 0))
     FROM "blk.{L}.attn_q.weight" w CROSS JOIN act h ON h.name = 'h'));
-- @unless-tensor blk.{L}.attn_q.bias
INSERT INTO act(name, data) VALUES ('q',
  (SELECT rope(matmul(w.data, h.data), (SELECT pos FROM step WHERE i = 0))
     FROM "blk.{L}.attn_q.weight" w CROSS JOIN act h ON h.name = 'h'));

-- k = h Wk + bk, rotated, and v = h Wv + bv go straight into the cache,
-- after the earlier positions': no act row, and no statement to copy one.
-- @if-tensor blk.{L}.attn_k.bias
INSERT INTO kv(layer, name, data)
SELECT {L}, 'k', rope(tensor_add(matmul(w.data, h.data), (SELECT bytes FROM "blk.{L}.attn_k.bias")),
                      (SELECT pos FROM step WHERE i = 0))
  FROM "blk.{L}.attn_k.weight" w CROSS JOIN act h ON h.name = 'h';
-- @unless-tensor blk.{L}.attn_k.bias
INSERT INTO kv(layer, name, data)
SELECT {L}, 'k', rope(matmul(w.data, h.data), (SELECT pos FROM step WHERE i = 0))
  FROM "blk.{L}.attn_k.weight" w CROSS JOIN act h ON h.name = 'h';
-- @if-tensor blk.{L}.attn_v.bias
INSERT INTO kv(layer, name, data)
SELECT {L}, 'v', tensor_add(matmul(w.data, h.data), (SELECT bytes FROM "blk.{L}.attn_v.bias"))
  FROM "blk.{L}.attn_v.weight" w CROSS JOIN act h ON h.name = 'h';
-- @unless-tensor blk.{L}.attn_v.bias
INSERT INTO kv(layer, name, data)
SELECT {L}, 'v', matmul(w.data, h.data)
  FROM "blk.{L}.attn_v.weight" w CROSS JOIN act h ON h.name = 'h';

-- Each query head attends causally over the cached keys and values of its
-- KV head.  Leave a head out (AND h.head <> 3) to ablate it.
INSERT INTO act(name, data) VALUES ('attn',
  (SELECT attention(q.data, k.data, v.data, h.head)
     FROM head h, act q, kv k, kv v
    WHERE q.name = 'q' AND k.layer = {L} AND k.name = 'k'
      AND v.layer = {L} AND v.name = 'v'));

-- x = x + attn Wo
INSERT INTO act(name, data) VALUES ('o',
  (SELECT matmul(w.data, a.data)
     FROM "blk.{L}.attn_output.weight" w CROSS JOIN act a ON a.name = 'attn'));
INSERT INTO act(name, data) VALUES ('x',
  (SELECT tensor_add(x.data, o.data)
     FROM act x, act o WHERE x.name = 'x' AND o.name = 'o'));

-- Feed-forward block.  h = RMSNorm(x) * ffn_norm
INSERT INTO act(name, data) VALUES ('h',
  (SELECT rmsnorm(x.data, w.data)
     FROM act x, "blk.{L}.ffn_norm.weight" w WHERE x.name = 'x'));

-- g = SiLU(h Wgate) * (h Wup), both products in one pass over the tiles
-- of gate and up side by side.  Apart, the same reads:
--   silu_mul(matmul(gate tiles, h), matmul(up tiles, h))
INSERT INTO act(name, data) VALUES ('g',
  (SELECT swiglu(g.data, u.data, h.data)
     FROM "blk.{L}.ffn_gate.weight" g
     JOIN "blk.{L}.ffn_up.weight" u ON u.tile_row = g.tile_row
     CROSS JOIN act h ON h.name = 'h'));

-- x = x + g Wdown
INSERT INTO act(name, data) VALUES ('f',
  (SELECT matmul(w.data, g.data)
     FROM "blk.{L}.ffn_down.weight" w CROSS JOIN act g ON g.name = 'g'));
INSERT INTO act(name, data) VALUES ('x',
  (SELECT tensor_add(x.data, f.data)
     FROM act x, act f WHERE x.name = 'x' AND f.name = 'f'));

-- @final
-- out: the rows of x whose logits the step wants (the last position, or
-- every position while activations are captured).
INSERT INTO act(name, rows, data) VALUES ('out',
  (SELECT count(*) FROM step WHERE logits),
  (SELECT gather_rows(x.data, s.i)
     FROM act x, step s WHERE x.name = 'x' AND s.logits));

-- logits = (RMSNorm(out) * output_norm) Wout
INSERT INTO act(name, rows, data) VALUES ('h',
  (SELECT rows FROM act WHERE name = 'out'),
  (SELECT rmsnorm(o.data, w.data)
     FROM act o, "output_norm.weight" w WHERE o.name = 'out'));
INSERT INTO act(name, rows, data) VALUES ('logits',
  (SELECT rows FROM act WHERE name = 'h'),
  (SELECT matmul(w.data, h.data)
     FROM "{output}" w CROSS JOIN act h ON h.name = 'h'));
