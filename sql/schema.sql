-- schema.sql: the tensql model database.  One SQLite file holds a whole
-- model: its metadata, its tensors cut into checksummed tiles, its tokenizer
-- and the SQL program of its forward pass.  `tensql import` writes it; the
-- extension reads it.  Page size 65536, so a tile spans few pages.

-- Everything about the model that is not a tensor: architecture and
-- hyper-parameters (GGUF key names, e.g. 'llama.block_count'), special token
-- ids, chat template, source file and its hash, and the format version.
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value ANY
) WITHOUT ROWID;

-- One row per tensor.  Data is row-major [rows][cols] in dtype; shape keeps
-- the original dimensions, outermost first, as a JSON array.  The tensor is
-- cut into tiles of tile_rows x tile_cols elements; tiles of a tensor have
-- consecutive ids starting at first_tile, in (tile_row, tile_col) order, so a
-- tile's id is first_tile + tile_row * tiles_per_row + tile_col.
CREATE TABLE tensor(
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  dtype      TEXT NOT NULL,
  shape      TEXT NOT NULL,
  rows       INTEGER NOT NULL,
  cols       INTEGER NOT NULL,
  tile_rows  INTEGER NOT NULL,
  tile_cols  INTEGER NOT NULL,
  first_tile INTEGER NOT NULL,
  n_tiles    INTEGER NOT NULL
);

-- The payload.  checksum is XXH3-64 of data (as a signed 64-bit integer),
-- checked every time the tile is read from disk.
CREATE TABLE tile(
  id        INTEGER PRIMARY KEY,
  tensor_id INTEGER NOT NULL REFERENCES tensor(id),
  tile_row  INTEGER NOT NULL,
  tile_col  INTEGER NOT NULL,
  checksum  INTEGER NOT NULL,
  data      BLOB NOT NULL
);

-- The tokenizer: pieces as the raw bytes they decode to; kind as GGUF's
-- token_type (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte).
CREATE TABLE vocab(
  id    INTEGER PRIMARY KEY,
  piece BLOB NOT NULL,
  score REAL NOT NULL,
  kind  INTEGER NOT NULL
);

-- Byte-level BPE merges, by rank (lower merges first).
CREATE TABLE merge(
  rank  INTEGER PRIMARY KEY,
  left  BLOB NOT NULL,
  right BLOB NOT NULL
);

-- The forward pass: statements run in step order for every step of
-- generation.  layer is NULL for the statements outside the per-layer block.
-- Instantiated from sql/llama.sql at import; edit to change the model.
CREATE TABLE program(
  step  INTEGER PRIMARY KEY,
  layer INTEGER,
  sql   TEXT NOT NULL
);
