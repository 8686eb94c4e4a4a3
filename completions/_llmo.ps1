
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'llmo' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'llmo'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'llmo' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the OpenAI-compatible gateway (until SIGTERM/SIGINT)')
            [CompletionResult]::new('provider', 'provider', [CompletionResultType]::ParameterValue, 'Manage upstream providers (OpenAI, Anthropic, Gemini, OpenAI-compatible)')
            [CompletionResult]::new('model', 'model', [CompletionResultType]::ParameterValue, 'Manage the public models clients ask for, and their provider mappings')
            [CompletionResult]::new('key', 'key', [CompletionResultType]::ParameterValue, 'Manage the API keys that clients of the gateway present')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Export the catalog as a TOML file, or apply one (configuration as code)')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Show or apply database schema migrations')
            [CompletionResult]::new('db', 'db', [CompletionResultType]::ParameterValue, 'Copy a whole installation between databases (SQLite and PostgreSQL, either way)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check configuration, database, migrations and providers, and say how to fix problems')
            [CompletionResult]::new('admin-key', 'admin-key', [CompletionResultType]::ParameterValue, 'Create the admin key that protects the admin API and web UI')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Ask a running server whether it is ready, and show each provider''s state')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on [env: LLMO_LISTEN] [default: 127.0.0.1:8000]')
            [CompletionResult]::new('--max-body', '--max-body', [CompletionResultType]::ParameterName, 'Largest accepted request body, e.g. `10MiB` [env: LLMO_MAX_BODY] [default: 10MiB]')
            [CompletionResult]::new('--log-retention', '--log-retention', [CompletionResultType]::ParameterName, 'Days of request logs to keep [env: LLMO_LOG_RETENTION_DAYS] [default: 30]')
            [CompletionResult]::new('--shutdown-timeout', '--shutdown-timeout', [CompletionResultType]::ParameterName, 'How long shutdown waits for in-flight requests and streams, e.g. `30s` [env: LLMO_SHUTDOWN_TIMEOUT] [default: 30s]')
            [CompletionResult]::new('--upstream-max-body', '--upstream-max-body', [CompletionResultType]::ParameterName, 'Largest non-stream upstream answer llmo reads, e.g. `64MiB`; a larger one is a 502 [env: LLMO_UPSTREAM_MAX_BODY] [default: 64MiB]')
            [CompletionResult]::new('--apply', '--apply', [CompletionResultType]::ParameterName, 'Apply this catalog file (as `llmo config apply` does) at start and whenever its content changes [env: LLMO_APPLY]')
            [CompletionResult]::new('--admin-key-file', '--admin-key-file', [CompletionResultType]::ParameterName, 'File holding the admin API key (enables /admin and /admin-ui) [env: LLMO_ADMIN_KEY holds the key itself]')
            [CompletionResult]::new('--redis-url', '--redis-url', [CompletionResultType]::ParameterName, 'Redis holding client-key and provider rate limits shared across replicas, e.g. `redis://:PASSWORD@cache:6379` or `rediss://` (TLS); without it each replica counts its own traffic [env: LLMO_REDIS_URL]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--allow-anonymous', '--allow-anonymous', [CompletionResultType]::ParameterName, 'Serve requests that carry no API key [env: LLMO_ALLOW_ANONYMOUS]')
            [CompletionResult]::new('--exit-on-error', '--exit-on-error', [CompletionResultType]::ParameterName, 'Exit 1 when the database cannot be opened or migrated, instead of serving not-ready and retrying in the background')
            [CompletionResult]::new('--apply-prune', '--apply-prune', [CompletionResultType]::ParameterName, 'With `--apply`: also remove the providers, models and mappings the file does not name [env: LLMO_APPLY_PRUNE]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a provider')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List providers (lowest priority number first)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one provider')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Change a provider''s settings (only the flags given)')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a provider and its model mappings')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a provider (it receives traffic again)')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a provider (it keeps its settings but receives no traffic)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;provider;add' {
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'API flavour: openai, anthropic, gemini or openai-compatible (vLLM, Ollama, Groq, ...)')
            [CompletionResult]::new('--base-url', '--base-url', [CompletionResultType]::ParameterName, 'API base URL [default: the vendor''s; required for openai-compatible, e.g. http://localhost:11434/v1]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key, stored in the database; `-` reads it from stdin (keeps it out of shell history)')
            [CompletionResult]::new('--api-key-env', '--api-key-env', [CompletionResultType]::ParameterName, 'Name of an environment variable that holds the API key, read at use time (the secret never enters the database)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Routing tier: lower numbers are tried first (0 before 1 before 2) [default: 0]')
            [CompletionResult]::new('--weight', '--weight', [CompletionResultType]::ParameterName, 'Share of traffic within its tier; 0 drains it (no new traffic, stays configured) [default: 1]')
            [CompletionResult]::new('--max-retries', '--max-retries', [CompletionResultType]::ParameterName, 'Retries on the same provider after a retryable failure, before failing over (0-10) [default: 2]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Upstream timeout: bounds a whole non-stream call, and for streams the first byte and each gap between chunks, e.g. 30s, 1500ms, 2m [default: 60s]')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Requests per minute sent to this provider; 0 = unlimited [default: 0]')
            [CompletionResult]::new('--models', '--models', [CompletionResultType]::ParameterName, 'Public model names served by this provider (created if new, mapped under the same upstream name)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--no-api-key', '--no-api-key', [CompletionResultType]::ParameterName, 'The server needs no key (a local Ollama or vLLM; openai-compatible only). One of `--api-key`, `--api-key-env` or this is required')
            [CompletionResult]::new('--disabled', '--disabled', [CompletionResultType]::ParameterName, 'Add it disabled (no traffic until `llmo provider enable`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;list' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;show' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;update' {
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'API flavour: openai, anthropic, gemini or openai-compatible')
            [CompletionResult]::new('--base-url', '--base-url', [CompletionResultType]::ParameterName, 'API base URL [default: the vendor''s; required for openai-compatible, e.g. http://localhost:11434/v1]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key, stored in the database; `-` reads it from stdin (keeps it out of shell history)')
            [CompletionResult]::new('--api-key-env', '--api-key-env', [CompletionResultType]::ParameterName, 'Name of an environment variable that holds the API key, read at use time (the secret never enters the database)')
            [CompletionResult]::new('--priority', '--priority', [CompletionResultType]::ParameterName, 'Routing tier: lower numbers are tried first (0 before 1 before 2) [default: 0]')
            [CompletionResult]::new('--weight', '--weight', [CompletionResultType]::ParameterName, 'Share of traffic within its tier; 0 drains it (no new traffic, stays configured) [default: 1]')
            [CompletionResult]::new('--max-retries', '--max-retries', [CompletionResultType]::ParameterName, 'Retries on the same provider after a retryable failure, before failing over (0-10) [default: 2]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Upstream timeout: bounds a whole non-stream call, and for streams the first byte and each gap between chunks, e.g. 30s, 1500ms, 2m [default: 60s]')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Requests per minute sent to this provider; 0 = unlimited [default: 0]')
            [CompletionResult]::new('--models', '--models', [CompletionResultType]::ParameterName, 'Public model names served by this provider (created if new, mapped under the same upstream name)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--no-api-key', '--no-api-key', [CompletionResultType]::ParameterName, 'Forget the provider''s key (stored or variable): for servers that need none, such as a local Ollama or vLLM')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;rename' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;remove' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Remove it even if it is the only provider of some model')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;enable' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;disable' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;provider;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a provider')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List providers (lowest priority number first)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one provider')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Change a provider''s settings (only the flags given)')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a provider and its model mappings')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a provider (it receives traffic again)')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a provider (it keeps its settings but receives no traffic)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;provider;help;add' {
            break
        }
        'llmo;provider;help;list' {
            break
        }
        'llmo;provider;help;show' {
            break
        }
        'llmo;provider;help;update' {
            break
        }
        'llmo;provider;help;rename' {
            break
        }
        'llmo;provider;help;remove' {
            break
        }
        'llmo;provider;help;enable' {
            break
        }
        'llmo;provider;help;disable' {
            break
        }
        'llmo;provider;help;help' {
            break
        }
        'llmo;model' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a model served by one or more providers (or add mappings to an existing one)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List models and their providers')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one model and its provider mappings')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a model (its mappings go with it; providers stay)')
            [CompletionResult]::new('unmap', 'unmap', [CompletionResultType]::ParameterValue, 'Remove one provider from a model')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a model')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a model (clients get 404 model_not_found)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;model;add' {
            [CompletionResult]::new('--provider', '--provider', [CompletionResultType]::ParameterName, 'A provider that serves it, optionally with the upstream model name it knows it by: `P` or `P=UPSTREAM_MODEL` (repeatable)')
            [CompletionResult]::new('--description', '--description', [CompletionResultType]::ParameterName, 'Free text shown in listings')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--disabled', '--disabled', [CompletionResultType]::ParameterName, 'Add it disabled')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;model;list' {
            [CompletionResult]::new('--search', '--search', [CompletionResultType]::ParameterName, 'Only names containing TEXT, case-insensitively')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N rows (1-1000), in name order; the next page starts with `--after` the last name shown')
            [CompletionResult]::new('--after', '--after', [CompletionResultType]::ParameterName, 'Only names after NAME, in name order')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;model;show' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;model;remove' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;model;unmap' {
            [CompletionResult]::new('--provider', '--provider', [CompletionResultType]::ParameterName, 'provider')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;model;enable' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;model;disable' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;model;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a model served by one or more providers (or add mappings to an existing one)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List models and their providers')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one model and its provider mappings')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a model (its mappings go with it; providers stay)')
            [CompletionResult]::new('unmap', 'unmap', [CompletionResultType]::ParameterValue, 'Remove one provider from a model')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a model')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a model (clients get 404 model_not_found)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;model;help;add' {
            break
        }
        'llmo;model;help;list' {
            break
        }
        'llmo;model;help;show' {
            break
        }
        'llmo;model;help;remove' {
            break
        }
        'llmo;model;help;unmap' {
            break
        }
        'llmo;model;help;enable' {
            break
        }
        'llmo;model;help;disable' {
            break
        }
        'llmo;model;help;help' {
            break
        }
        'llmo;key' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a key and print it (once: it cannot be shown again)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List keys (prefix, limits, last use; never the key)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke a key (a running server stops accepting it within 2 s)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;key;create' {
            [CompletionResult]::new('--rpm', '--rpm', [CompletionResultType]::ParameterName, 'Requests per minute allowed with this key; 0 = unlimited [default: 0]')
            [CompletionResult]::new('--models', '--models', [CompletionResultType]::ParameterName, 'Public models this key may use [default: all]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;key;list' {
            [CompletionResult]::new('--search', '--search', [CompletionResultType]::ParameterName, 'Only names containing TEXT, case-insensitively')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most N rows (1-1000), in name order; the next page starts with `--after` the last name shown')
            [CompletionResult]::new('--after', '--after', [CompletionResultType]::ParameterName, 'Only names after NAME, in name order')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;key;revoke' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;key;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a key and print it (once: it cannot be shown again)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List keys (prefix, limits, last use; never the key)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke a key (a running server stops accepting it within 2 s)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;key;help;create' {
            break
        }
        'llmo;key;help;list' {
            break
        }
        'llmo;key;help;revoke' {
            break
        }
        'llmo;key;help;help' {
            break
        }
        'llmo;config' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Make the database match a catalog file, in one transaction; prints the plan')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;config;export' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write to this file instead of stdout')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;config;apply' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan and change nothing')
            [CompletionResult]::new('--prune', '--prune', [CompletionResultType]::ParameterName, 'Also remove the providers, models and mappings the file does not name (client keys are never revoked)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;config;help' {
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Make the database match a catalog file, in one transaction; prints the plan')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;config;help;export' {
            break
        }
        'llmo;config;help;apply' {
            break
        }
        'llmo;config;help;help' {
            break
        }
        'llmo;migrate' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Apply pending migrations, each in its own transaction, after backing up the database')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;migrate;status' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;migrate;up' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be applied, change nothing')
            [CompletionResult]::new('--no-backup', '--no-backup', [CompletionResultType]::ParameterName, 'Skip the backup copy (`VACUUM INTO <db>.backup-v<N>-<time>`) of a non-empty database (PostgreSQL: no copy is taken; the `pg_dump` command to take one is printed)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;migrate;help' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Apply pending migrations, each in its own transaction, after backing up the database')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;migrate;help;status' {
            break
        }
        'llmo;migrate;help;up' {
            break
        }
        'llmo;migrate;help;help' {
            break
        }
        'llmo;db' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('copy', 'copy', [CompletionResultType]::ParameterValue, 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;db;copy' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;db;help' {
            [CompletionResult]::new('copy', 'copy', [CompletionResultType]::ParameterValue, 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;db;help;copy' {
            break
        }
        'llmo;db;help;help' {
            break
        }
        'llmo;doctor' {
            [CompletionResult]::new('--probe-timeout', '--probe-timeout', [CompletionResultType]::ParameterName, 'How long each probe may take, e.g. 5s or 1500ms [default: 5s]')
            [CompletionResult]::new('--admin-key-file', '--admin-key-file', [CompletionResultType]::ParameterName, 'File holding the admin API key (enables /admin and /admin-ui) [env: LLMO_ADMIN_KEY holds the key itself]')
            [CompletionResult]::new('--redis-url', '--redis-url', [CompletionResultType]::ParameterName, 'Redis holding client-key and provider rate limits shared across replicas, e.g. `redis://:PASSWORD@cache:6379` or `rediss://` (TLS); without it each replica counts its own traffic [env: LLMO_REDIS_URL]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--probe', '--probe', [CompletionResultType]::ParameterName, 'Also call each enabled provider''s models list once (never a paid completion) to check that it is reachable and accepts the key. Without it nothing leaves this machine')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;admin-key' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Print a new random admin key, or write it to a file (mode 0600)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;admin-key;generate' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the key to this file (created with mode 0600) instead of printing it')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace FILE if it exists')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;admin-key;help' {
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Print a new random admin key, or write it to a file (mode 0600)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;admin-key;help;generate' {
            break
        }
        'llmo;admin-key;help;help' {
            break
        }
        'llmo;health' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Base URL of the server [default: http:// + the `listen` setting, with 0.0.0.0 / [::] read as this machine]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the answer, e.g. `5s` or `500ms`')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;completions' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON instead of tables')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (and debug logs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'llmo;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the OpenAI-compatible gateway (until SIGTERM/SIGINT)')
            [CompletionResult]::new('provider', 'provider', [CompletionResultType]::ParameterValue, 'Manage upstream providers (OpenAI, Anthropic, Gemini, OpenAI-compatible)')
            [CompletionResult]::new('model', 'model', [CompletionResultType]::ParameterValue, 'Manage the public models clients ask for, and their provider mappings')
            [CompletionResult]::new('key', 'key', [CompletionResultType]::ParameterValue, 'Manage the API keys that clients of the gateway present')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Export the catalog as a TOML file, or apply one (configuration as code)')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Show or apply database schema migrations')
            [CompletionResult]::new('db', 'db', [CompletionResultType]::ParameterValue, 'Copy a whole installation between databases (SQLite and PostgreSQL, either way)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check configuration, database, migrations and providers, and say how to fix problems')
            [CompletionResult]::new('admin-key', 'admin-key', [CompletionResultType]::ParameterValue, 'Create the admin key that protects the admin API and web UI')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Ask a running server whether it is ready, and show each provider''s state')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llmo;help;serve' {
            break
        }
        'llmo;help;provider' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a provider')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List providers (lowest priority number first)')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one provider')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Change a provider''s settings (only the flags given)')
            [CompletionResult]::new('rename', 'rename', [CompletionResultType]::ParameterValue, 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a provider and its model mappings')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a provider (it receives traffic again)')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a provider (it keeps its settings but receives no traffic)')
            break
        }
        'llmo;help;provider;add' {
            break
        }
        'llmo;help;provider;list' {
            break
        }
        'llmo;help;provider;show' {
            break
        }
        'llmo;help;provider;update' {
            break
        }
        'llmo;help;provider;rename' {
            break
        }
        'llmo;help;provider;remove' {
            break
        }
        'llmo;help;provider;enable' {
            break
        }
        'llmo;help;provider;disable' {
            break
        }
        'llmo;help;model' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a model served by one or more providers (or add mappings to an existing one)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List models and their providers')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one model and its provider mappings')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a model (its mappings go with it; providers stay)')
            [CompletionResult]::new('unmap', 'unmap', [CompletionResultType]::ParameterValue, 'Remove one provider from a model')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a model')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a model (clients get 404 model_not_found)')
            break
        }
        'llmo;help;model;add' {
            break
        }
        'llmo;help;model;list' {
            break
        }
        'llmo;help;model;show' {
            break
        }
        'llmo;help;model;remove' {
            break
        }
        'llmo;help;model;unmap' {
            break
        }
        'llmo;help;model;enable' {
            break
        }
        'llmo;help;model;disable' {
            break
        }
        'llmo;help;key' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a key and print it (once: it cannot be shown again)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List keys (prefix, limits, last use; never the key)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke a key (a running server stops accepting it within 2 s)')
            break
        }
        'llmo;help;key;create' {
            break
        }
        'llmo;help;key;list' {
            break
        }
        'llmo;help;key;revoke' {
            break
        }
        'llmo;help;config' {
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Make the database match a catalog file, in one transaction; prints the plan')
            break
        }
        'llmo;help;config;export' {
            break
        }
        'llmo;help;config;apply' {
            break
        }
        'llmo;help;migrate' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Apply pending migrations, each in its own transaction, after backing up the database')
            break
        }
        'llmo;help;migrate;status' {
            break
        }
        'llmo;help;migrate;up' {
            break
        }
        'llmo;help;db' {
            [CompletionResult]::new('copy', 'copy', [CompletionResultType]::ParameterValue, 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way')
            break
        }
        'llmo;help;db;copy' {
            break
        }
        'llmo;help;doctor' {
            break
        }
        'llmo;help;admin-key' {
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Print a new random admin key, or write it to a file (mode 0600)')
            break
        }
        'llmo;help;admin-key;generate' {
            break
        }
        'llmo;help;health' {
            break
        }
        'llmo;help;completions' {
            break
        }
        'llmo;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
