
use builtin;
use str;

set edit:completion:arg-completer[llmo] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'llmo'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'llmo'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the OpenAI-compatible gateway (until SIGTERM/SIGINT)'
            cand provider 'Manage upstream providers (OpenAI, Anthropic, Gemini, OpenAI-compatible)'
            cand model 'Manage the public models clients ask for, and their provider mappings'
            cand key 'Manage the API keys that clients of the gateway present'
            cand config 'Export the catalog as a TOML file, or apply one (configuration as code)'
            cand migrate 'Show or apply database schema migrations'
            cand db 'Copy a whole installation between databases (SQLite and PostgreSQL, either way)'
            cand doctor 'Check configuration, database, migrations and providers, and say how to fix problems'
            cand admin-key 'Create the admin key that protects the admin API and web UI'
            cand health 'Ask a running server whether it is ready, and show each provider''s state'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;serve'= {
            cand --listen 'Address to listen on [env: LLMO_LISTEN] [default: 127.0.0.1:8000]'
            cand --max-body 'Largest accepted request body, e.g. `10MiB` [env: LLMO_MAX_BODY] [default: 10MiB]'
            cand --log-retention 'Days of request logs to keep [env: LLMO_LOG_RETENTION_DAYS] [default: 30]'
            cand --shutdown-timeout 'How long shutdown waits for in-flight requests and streams, e.g. `30s` [env: LLMO_SHUTDOWN_TIMEOUT] [default: 30s]'
            cand --upstream-max-body 'Largest non-stream upstream answer llmo reads, e.g. `64MiB`; a larger one is a 502 [env: LLMO_UPSTREAM_MAX_BODY] [default: 64MiB]'
            cand --apply 'Apply this catalog file (as `llmo config apply` does) at start and whenever its content changes [env: LLMO_APPLY]'
            cand --admin-key-file 'File holding the admin API key (enables /admin and /admin-ui) [env: LLMO_ADMIN_KEY holds the key itself]'
            cand --redis-url 'Redis holding client-key and provider rate limits shared across replicas, e.g. `redis://:PASSWORD@cache:6379` or `rediss://` (TLS); without it each replica counts its own traffic [env: LLMO_REDIS_URL]'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --allow-anonymous 'Serve requests that carry no API key [env: LLMO_ALLOW_ANONYMOUS]'
            cand --exit-on-error 'Exit 1 when the database cannot be opened or migrated, instead of serving not-ready and retrying in the background'
            cand --apply-prune 'With `--apply`: also remove the providers, models and mappings the file does not name [env: LLMO_APPLY_PRUNE]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Add a provider'
            cand list 'List providers (lowest priority number first)'
            cand show 'Show one provider'
            cand update 'Change a provider''s settings (only the flags given)'
            cand rename 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)'
            cand remove 'Remove a provider and its model mappings'
            cand enable 'Enable a provider (it receives traffic again)'
            cand disable 'Disable a provider (it keeps its settings but receives no traffic)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;provider;add'= {
            cand --kind 'API flavour: openai, anthropic, gemini or openai-compatible (vLLM, Ollama, Groq, ...)'
            cand --base-url 'API base URL [default: the vendor''s; required for openai-compatible, e.g. http://localhost:11434/v1]'
            cand --api-key 'API key, stored in the database; `-` reads it from stdin (keeps it out of shell history)'
            cand --api-key-env 'Name of an environment variable that holds the API key, read at use time (the secret never enters the database)'
            cand --priority 'Routing tier: lower numbers are tried first (0 before 1 before 2) [default: 0]'
            cand --weight 'Share of traffic within its tier; 0 drains it (no new traffic, stays configured) [default: 1]'
            cand --max-retries 'Retries on the same provider after a retryable failure, before failing over (0-10) [default: 2]'
            cand --timeout 'Upstream timeout: bounds a whole non-stream call, and for streams the first byte and each gap between chunks, e.g. 30s, 1500ms, 2m [default: 60s]'
            cand --rate-limit 'Requests per minute sent to this provider; 0 = unlimited [default: 0]'
            cand --models 'Public model names served by this provider (created if new, mapped under the same upstream name)'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --no-api-key 'The server needs no key (a local Ollama or vLLM; openai-compatible only). One of `--api-key`, `--api-key-env` or this is required'
            cand --disabled 'Add it disabled (no traffic until `llmo provider enable`)'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;list'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;show'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;update'= {
            cand --kind 'API flavour: openai, anthropic, gemini or openai-compatible'
            cand --base-url 'API base URL [default: the vendor''s; required for openai-compatible, e.g. http://localhost:11434/v1]'
            cand --api-key 'API key, stored in the database; `-` reads it from stdin (keeps it out of shell history)'
            cand --api-key-env 'Name of an environment variable that holds the API key, read at use time (the secret never enters the database)'
            cand --priority 'Routing tier: lower numbers are tried first (0 before 1 before 2) [default: 0]'
            cand --weight 'Share of traffic within its tier; 0 drains it (no new traffic, stays configured) [default: 1]'
            cand --max-retries 'Retries on the same provider after a retryable failure, before failing over (0-10) [default: 2]'
            cand --timeout 'Upstream timeout: bounds a whole non-stream call, and for streams the first byte and each gap between chunks, e.g. 30s, 1500ms, 2m [default: 60s]'
            cand --rate-limit 'Requests per minute sent to this provider; 0 = unlimited [default: 0]'
            cand --models 'Public model names served by this provider (created if new, mapped under the same upstream name)'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --no-api-key 'Forget the provider''s key (stored or variable): for servers that need none, such as a local Ollama or vLLM'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;rename'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;remove'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --force 'Remove it even if it is the only provider of some model'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;enable'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;disable'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;provider;help'= {
            cand add 'Add a provider'
            cand list 'List providers (lowest priority number first)'
            cand show 'Show one provider'
            cand update 'Change a provider''s settings (only the flags given)'
            cand rename 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)'
            cand remove 'Remove a provider and its model mappings'
            cand enable 'Enable a provider (it receives traffic again)'
            cand disable 'Disable a provider (it keeps its settings but receives no traffic)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;provider;help;add'= {
        }
        &'llmo;provider;help;list'= {
        }
        &'llmo;provider;help;show'= {
        }
        &'llmo;provider;help;update'= {
        }
        &'llmo;provider;help;rename'= {
        }
        &'llmo;provider;help;remove'= {
        }
        &'llmo;provider;help;enable'= {
        }
        &'llmo;provider;help;disable'= {
        }
        &'llmo;provider;help;help'= {
        }
        &'llmo;model'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Add a model served by one or more providers (or add mappings to an existing one)'
            cand list 'List models and their providers'
            cand show 'Show one model and its provider mappings'
            cand remove 'Remove a model (its mappings go with it; providers stay)'
            cand unmap 'Remove one provider from a model'
            cand enable 'Enable a model'
            cand disable 'Disable a model (clients get 404 model_not_found)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;model;add'= {
            cand --provider 'A provider that serves it, optionally with the upstream model name it knows it by: `P` or `P=UPSTREAM_MODEL` (repeatable)'
            cand --description 'Free text shown in listings'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --disabled 'Add it disabled'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;model;list'= {
            cand --search 'Only names containing TEXT, case-insensitively'
            cand --limit 'At most N rows (1-1000), in name order; the next page starts with `--after` the last name shown'
            cand --after 'Only names after NAME, in name order'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;model;show'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;model;remove'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;model;unmap'= {
            cand --provider 'provider'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;model;enable'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;model;disable'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;model;help'= {
            cand add 'Add a model served by one or more providers (or add mappings to an existing one)'
            cand list 'List models and their providers'
            cand show 'Show one model and its provider mappings'
            cand remove 'Remove a model (its mappings go with it; providers stay)'
            cand unmap 'Remove one provider from a model'
            cand enable 'Enable a model'
            cand disable 'Disable a model (clients get 404 model_not_found)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;model;help;add'= {
        }
        &'llmo;model;help;list'= {
        }
        &'llmo;model;help;show'= {
        }
        &'llmo;model;help;remove'= {
        }
        &'llmo;model;help;unmap'= {
        }
        &'llmo;model;help;enable'= {
        }
        &'llmo;model;help;disable'= {
        }
        &'llmo;model;help;help'= {
        }
        &'llmo;key'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Create a key and print it (once: it cannot be shown again)'
            cand list 'List keys (prefix, limits, last use; never the key)'
            cand revoke 'Revoke a key (a running server stops accepting it within 2 s)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;key;create'= {
            cand --rpm 'Requests per minute allowed with this key; 0 = unlimited [default: 0]'
            cand --models 'Public models this key may use [default: all]'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;key;list'= {
            cand --search 'Only names containing TEXT, case-insensitively'
            cand --limit 'At most N rows (1-1000), in name order; the next page starts with `--after` the last name shown'
            cand --after 'Only names after NAME, in name order'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;key;revoke'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;key;help'= {
            cand create 'Create a key and print it (once: it cannot be shown again)'
            cand list 'List keys (prefix, limits, last use; never the key)'
            cand revoke 'Revoke a key (a running server stops accepting it within 2 s)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;key;help;create'= {
        }
        &'llmo;key;help;list'= {
        }
        &'llmo;key;help;revoke'= {
        }
        &'llmo;key;help;help'= {
        }
        &'llmo;config'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand export 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported'
            cand apply 'Make the database match a catalog file, in one transaction; prints the plan'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;config;export'= {
            cand --out 'Write to this file instead of stdout'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;config;apply'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --dry-run 'Print the plan and change nothing'
            cand --prune 'Also remove the providers, models and mappings the file does not name (client keys are never revoked)'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;config;help'= {
            cand export 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported'
            cand apply 'Make the database match a catalog file, in one transaction; prints the plan'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;config;help;export'= {
        }
        &'llmo;config;help;apply'= {
        }
        &'llmo;config;help;help'= {
        }
        &'llmo;migrate'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand status 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)'
            cand up 'Apply pending migrations, each in its own transaction, after backing up the database'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;migrate;status'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;migrate;up'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --dry-run 'Show what would be applied, change nothing'
            cand --no-backup 'Skip the backup copy (`VACUUM INTO <db>.backup-v<N>-<time>`) of a non-empty database (PostgreSQL: no copy is taken; the `pg_dump` command to take one is printed)'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;migrate;help'= {
            cand status 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)'
            cand up 'Apply pending migrations, each in its own transaction, after backing up the database'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;migrate;help;status'= {
        }
        &'llmo;migrate;help;up'= {
        }
        &'llmo;migrate;help;help'= {
        }
        &'llmo;db'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand copy 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;db;copy'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;db;help'= {
            cand copy 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;db;help;copy'= {
        }
        &'llmo;db;help;help'= {
        }
        &'llmo;doctor'= {
            cand --probe-timeout 'How long each probe may take, e.g. 5s or 1500ms [default: 5s]'
            cand --admin-key-file 'File holding the admin API key (enables /admin and /admin-ui) [env: LLMO_ADMIN_KEY holds the key itself]'
            cand --redis-url 'Redis holding client-key and provider rate limits shared across replicas, e.g. `redis://:PASSWORD@cache:6379` or `rediss://` (TLS); without it each replica counts its own traffic [env: LLMO_REDIS_URL]'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --probe 'Also call each enabled provider''s models list once (never a paid completion) to check that it is reachable and accepts the key. Without it nothing leaves this machine'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;admin-key'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand generate 'Print a new random admin key, or write it to a file (mode 0600)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;admin-key;generate'= {
            cand --out 'Write the key to this file (created with mode 0600) instead of printing it'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --force 'Replace FILE if it exists'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;admin-key;help'= {
            cand generate 'Print a new random admin key, or write it to a file (mode 0600)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;admin-key;help;generate'= {
        }
        &'llmo;admin-key;help;help'= {
        }
        &'llmo;health'= {
            cand --url 'Base URL of the server [default: http:// + the `listen` setting, with 0.0.0.0 / [::] read as this machine]'
            cand --timeout 'How long to wait for the answer, e.g. `5s` or `500ms`'
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;completions'= {
            cand --db 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]'
            cand --config 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]'
            cand --log-format 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]'
            cand --json 'Print machine-readable JSON instead of tables'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -v 'Print more detail (and debug logs)'
            cand --verbose 'Print more detail (and debug logs)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'llmo;help'= {
            cand serve 'Run the OpenAI-compatible gateway (until SIGTERM/SIGINT)'
            cand provider 'Manage upstream providers (OpenAI, Anthropic, Gemini, OpenAI-compatible)'
            cand model 'Manage the public models clients ask for, and their provider mappings'
            cand key 'Manage the API keys that clients of the gateway present'
            cand config 'Export the catalog as a TOML file, or apply one (configuration as code)'
            cand migrate 'Show or apply database schema migrations'
            cand db 'Copy a whole installation between databases (SQLite and PostgreSQL, either way)'
            cand doctor 'Check configuration, database, migrations and providers, and say how to fix problems'
            cand admin-key 'Create the admin key that protects the admin API and web UI'
            cand health 'Ask a running server whether it is ready, and show each provider''s state'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llmo;help;serve'= {
        }
        &'llmo;help;provider'= {
            cand add 'Add a provider'
            cand list 'List providers (lowest priority number first)'
            cand show 'Show one provider'
            cand update 'Change a provider''s settings (only the flags given)'
            cand rename 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)'
            cand remove 'Remove a provider and its model mappings'
            cand enable 'Enable a provider (it receives traffic again)'
            cand disable 'Disable a provider (it keeps its settings but receives no traffic)'
        }
        &'llmo;help;provider;add'= {
        }
        &'llmo;help;provider;list'= {
        }
        &'llmo;help;provider;show'= {
        }
        &'llmo;help;provider;update'= {
        }
        &'llmo;help;provider;rename'= {
        }
        &'llmo;help;provider;remove'= {
        }
        &'llmo;help;provider;enable'= {
        }
        &'llmo;help;provider;disable'= {
        }
        &'llmo;help;model'= {
            cand add 'Add a model served by one or more providers (or add mappings to an existing one)'
            cand list 'List models and their providers'
            cand show 'Show one model and its provider mappings'
            cand remove 'Remove a model (its mappings go with it; providers stay)'
            cand unmap 'Remove one provider from a model'
            cand enable 'Enable a model'
            cand disable 'Disable a model (clients get 404 model_not_found)'
        }
        &'llmo;help;model;add'= {
        }
        &'llmo;help;model;list'= {
        }
        &'llmo;help;model;show'= {
        }
        &'llmo;help;model;remove'= {
        }
        &'llmo;help;model;unmap'= {
        }
        &'llmo;help;model;enable'= {
        }
        &'llmo;help;model;disable'= {
        }
        &'llmo;help;key'= {
            cand create 'Create a key and print it (once: it cannot be shown again)'
            cand list 'List keys (prefix, limits, last use; never the key)'
            cand revoke 'Revoke a key (a running server stops accepting it within 2 s)'
        }
        &'llmo;help;key;create'= {
        }
        &'llmo;help;key;list'= {
        }
        &'llmo;help;key;revoke'= {
        }
        &'llmo;help;config'= {
            cand export 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported'
            cand apply 'Make the database match a catalog file, in one transaction; prints the plan'
        }
        &'llmo;help;config;export'= {
        }
        &'llmo;help;config;apply'= {
        }
        &'llmo;help;migrate'= {
            cand status 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)'
            cand up 'Apply pending migrations, each in its own transaction, after backing up the database'
        }
        &'llmo;help;migrate;status'= {
        }
        &'llmo;help;migrate;up'= {
        }
        &'llmo;help;db'= {
            cand copy 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way'
        }
        &'llmo;help;db;copy'= {
        }
        &'llmo;help;doctor'= {
        }
        &'llmo;help;admin-key'= {
            cand generate 'Print a new random admin key, or write it to a file (mode 0600)'
        }
        &'llmo;help;admin-key;generate'= {
        }
        &'llmo;help;health'= {
        }
        &'llmo;help;completions'= {
        }
        &'llmo;help;help'= {
        }
    ]
    $completions[$command]
}
