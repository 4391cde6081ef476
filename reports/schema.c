/*
 * Schema migrations of the evidence store (see schema.h and docs/evidence-store.md). Every
 * table is STRICT; hashes are lowercase hex TEXT; times are UTC ISO-8601 TEXT
 * ("2024-05-01T12:00:00Z"); JSON columns are TEXT checked with json_valid().
 */
#include "reports/schema.h"

#include <stddef.h>

/* Models: a weight file (hashed) or an API-only model (key "api:NAME"). */
static const char v1_models[] =
    "CREATE TABLE models (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  key TEXT NOT NULL UNIQUE,          -- 'file:<xxh128>' or 'api:<name>'\n"
    "  name TEXT NOT NULL,\n"
    "  path TEXT,                         -- NULL for API-only models\n"
    "  size_bytes INTEGER,\n"
    "  sha256 TEXT,\n"
    "  xxh128 TEXT,\n"
    "  format TEXT NOT NULL,              -- 'gguf', 'safetensors', 'api'\n"
    "  arch TEXT,\n"
    "  n_params INTEGER,\n"
    "  tokenizer_hash TEXT,\n"
    "  created_at TEXT NOT NULL\n"
    ") STRICT;\n";
static const char v1_corpora[] =
    "CREATE TABLE corpora (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  xxh128 TEXT NOT NULL UNIQUE,       -- over the ordered probe ids\n"
    "  name TEXT NOT NULL,\n"
    "  source TEXT NOT NULL,\n"
    "  n_probes INTEGER NOT NULL CHECK (n_probes >= 0),\n"
    "  created_at TEXT NOT NULL\n"
    ") STRICT;\n";
static const char v1_probes[] = "CREATE TABLE probes (\n"
                                "  id INTEGER PRIMARY KEY,\n"
                                "  xxh128 TEXT NOT NULL UNIQUE,       -- over kind, NUL, text\n"
                                "  kind TEXT NOT NULL CHECK (kind IN ('chat', 'text')),\n"
                                "  text TEXT NOT NULL,\n"
                                "  lang TEXT\n"
                                ") STRICT;\n";
static const char v1_corpus_probes[] =
    "CREATE TABLE corpus_probes (\n"
    "  corpus_id INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,\n"
    "  position INTEGER NOT NULL,\n"
    "  probe_id INTEGER NOT NULL REFERENCES probes(id),\n"
    "  PRIMARY KEY (corpus_id, position)\n"
    ") STRICT;\n"
    "CREATE INDEX corpus_probes_probe ON corpus_probes(probe_id);\n";
static const char v1_runs[] =
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  command TEXT NOT NULL,             -- the subcommand, e.g. 'collect'\n"
    "  argv TEXT NOT NULL CHECK (json_valid(argv)), -- JSON array of the whole command line\n"
    "  tool_version TEXT NOT NULL,\n"
    "  seed INTEGER,\n"
    "  threads INTEGER,\n"
    "  host TEXT,\n"
    "  pid INTEGER,\n"
    "  started_at TEXT NOT NULL,\n"
    "  ended_at TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),\n"
    "  exit_code INTEGER\n"
    ") STRICT;\n";

/* A collection: the observations of one model under fixed parameters (one transcript file,
 * or one collect configuration). Its key makes reruns find it again. */
static const char v1_collections[] =
    "CREATE TABLE collections (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  key TEXT NOT NULL UNIQUE,\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "  corpus_id INTEGER REFERENCES corpora(id),\n"
    "  source TEXT NOT NULL CHECK (source IN ('transcript', 'local')),\n"
    "  params TEXT NOT NULL CHECK (json_valid(params)),\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),  -- the run that created it\n"
    "  created_at TEXT NOT NULL\n"
    ") STRICT;\n"
    "CREATE INDEX collections_model ON collections(model_id);\n";

/* One response to one probe. Blobs (little-endian, see docs/evidence-store.md):
 *   tokens   per token u32 n_bytes + bytes
 *   logprobs per token f64 (NaN = unknown); empty when the source had no log-probs
 *   top_k    per token u16 n_alt, then per alternative u32 n_bytes + bytes + f64 logprob */
static const char v1_observations[] =
    "CREATE TABLE observations (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  probe_id INTEGER NOT NULL REFERENCES probes(id),\n"
    "  sample_index INTEGER NOT NULL CHECK (sample_index >= 0),\n"
    "  source_ref TEXT,                   -- record id in the source file\n"
    "  response TEXT NOT NULL,\n"
    "  finish_reason TEXT,\n"
    "  has_logprobs INTEGER NOT NULL CHECK (has_logprobs IN (0, 1)),\n"
    "  n_tokens INTEGER NOT NULL CHECK (n_tokens >= 0),\n"
    "  tokens BLOB NOT NULL,\n"
    "  logprobs BLOB NOT NULL,\n"
    "  top_k BLOB NOT NULL,\n"
    "  created_at TEXT NOT NULL,\n"
    "  UNIQUE (collection_id, probe_id, sample_index)\n"
    ") STRICT;\n"
    "CREATE INDEX observations_run ON observations(run_id);\n"
    "CREATE INDEX observations_probe ON observations(probe_id);\n";
static const char v1_signals[] =
    "CREATE TABLE signals (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  name TEXT NOT NULL,\n"
    "  teacher_model_id INTEGER REFERENCES models(id),\n"
    "  suspect_model_id INTEGER REFERENCES models(id),\n"
    "  test TEXT,                         -- the statistical test, named\n"
    "  statistic REAL,\n"
    "  p_value REAL CHECK (p_value IS NULL OR (p_value >= 0 AND p_value <= 1)),\n"
    "  ci_low REAL,\n"
    "  ci_high REAL,\n"
    "  effect REAL,\n"
    "  n INTEGER,\n"
    "  details TEXT CHECK (details IS NULL OR json_valid(details)),\n"
    "  created_at TEXT NOT NULL\n"
    ") STRICT;\n"
    "CREATE INDEX signals_run ON signals(run_id);\n";
static const char v1_verdicts[] =
    "CREATE TABLE verdicts (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  teacher_model_id INTEGER REFERENCES models(id),\n"
    "  suspect_model_id INTEGER REFERENCES models(id),\n"
    "  relation TEXT NOT NULL CHECK (relation IN ('same-weights', 'weight-derived', 'distilled',\n"
    "    'independent', 'inconclusive')),\n"
    "  p_value REAL CHECK (p_value IS NULL OR (p_value >= 0 AND p_value <= 1)),\n"
    "  alpha REAL,\n"
    "  rationale TEXT,\n"
    "  details TEXT CHECK (details IS NULL OR json_valid(details)),\n"
    "  created_at TEXT NOT NULL\n"
    ") STRICT;\n"
    "CREATE INDEX verdicts_run ON verdicts(run_id);\n"
    "PRAGMA application_id = 1146376771;\n" /* DT_STORE_APPLICATION_ID */;

static const char *const schema_v1[] = {
    v1_models,      v1_corpora,      v1_probes,  v1_corpus_probes, v1_runs,
    v1_collections, v1_observations, v1_signals, v1_verdicts,      NULL};

/* Version 2: release fingerprints (`fingerprint` / `verify`). data is the fingerprint's JSON
 * (fingerprint/release.h): per-tensor hashes and samples, tokenizer hash, behaviour sketch. */
static const char v2_fingerprints[] =
    "CREATE TABLE fingerprints (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "  run_id INTEGER REFERENCES runs(id),\n"
    "  n_tensors INTEGER NOT NULL CHECK (n_tensors >= 0),\n"
    "  tokenizer_hash TEXT,\n"
    "  data TEXT NOT NULL CHECK (json_valid(data)),\n"
    "  created_at TEXT NOT NULL\n"
    ") STRICT;\n"
    "CREATE INDEX fingerprints_model ON fingerprints(model_id);\n";

static const char *const schema_v2[] = {v2_fingerprints, NULL};

/* Version 3: control panels (`panel add`). A panel is an evidence store whose members are
 * control models recorded once: the model row (path, size, SHA-256, tokenizer), how its
 * answers were obtained and with which settings; the answers are ordinary observations of
 * the model's collections. */
static const char v3_panel_members[] =
    "CREATE TABLE panel_members (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "  source TEXT NOT NULL CHECK (source IN ('local', 'transcript', 'endpoint')),\n"
    "  location TEXT NOT NULL,            -- model path, transcript file or endpoint URL\n"
    "  chat_template TEXT,                -- the template its chat probes were wrapped in\n"
    "  settings TEXT NOT NULL CHECK (json_valid(settings)), -- seed, probe counts, sampling\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),  -- the panel add that recorded it\n"
    "  created_at TEXT NOT NULL\n"
    ") STRICT;\n"
    "CREATE INDEX panel_members_model ON panel_members(model_id);\n";

static const char *const schema_v3[] = {v3_panel_members, NULL};

const char *const *const dt_store_migrations[] = {schema_v1, schema_v2, schema_v3};
const int dt_store_n_migrations = (int)(sizeof dt_store_migrations / sizeof *dt_store_migrations);
