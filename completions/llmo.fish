# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_llmo_global_optspecs
    string join \n db= config= json q/quiet v/verbose log-format= h/help V/version
end

function __fish_llmo_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_llmo_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_llmo_using_subcommand
    set -l cmd (__fish_llmo_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c llmo -n "__fish_llmo_needs_command" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_needs_command" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_needs_command" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_needs_command" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_needs_command" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_needs_command" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llmo -n "__fish_llmo_needs_command" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "serve" -d 'Run the OpenAI-compatible gateway (until SIGTERM/SIGINT)'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "provider" -d 'Manage upstream providers (OpenAI, Anthropic, Gemini, OpenAI-compatible)'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "model" -d 'Manage the public models clients ask for, and their provider mappings'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "key" -d 'Manage the API keys that clients of the gateway present'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "config" -d 'Export the catalog as a TOML file, or apply one (configuration as code)'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "migrate" -d 'Show or apply database schema migrations'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "db" -d 'Copy a whole installation between databases (SQLite and PostgreSQL, either way)'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "doctor" -d 'Check configuration, database, migrations and providers, and say how to fix problems'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "admin-key" -d 'Create the admin key that protects the admin API and web UI'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "health" -d 'Ask a running server whether it is ready, and show each provider\'s state'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c llmo -n "__fish_llmo_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l listen -d 'Address to listen on [env: LLMO_LISTEN] [default: 127.0.0.1:8000]' -r
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l max-body -d 'Largest accepted request body, e.g. `10MiB` [env: LLMO_MAX_BODY] [default: 10MiB]' -r
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l log-retention -d 'Days of request logs to keep [env: LLMO_LOG_RETENTION_DAYS] [default: 30]' -r
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l shutdown-timeout -d 'How long shutdown waits for in-flight requests and streams, e.g. `30s` [env: LLMO_SHUTDOWN_TIMEOUT] [default: 30s]' -r
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l upstream-max-body -d 'Largest non-stream upstream answer llmo reads, e.g. `64MiB`; a larger one is a 502 [env: LLMO_UPSTREAM_MAX_BODY] [default: 64MiB]' -r
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l apply -d 'Apply this catalog file (as `llmo config apply` does) at start and whenever its content changes [env: LLMO_APPLY]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l admin-key-file -d 'File holding the admin API key (enables /admin and /admin-ui) [env: LLMO_ADMIN_KEY holds the key itself]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l redis-url -d 'Redis holding client-key and provider rate limits shared across replicas, e.g. `redis://:PASSWORD@cache:6379` or `rediss://` (TLS); without it each replica counts its own traffic [env: LLMO_REDIS_URL]' -r
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l allow-anonymous -d 'Serve requests that carry no API key [env: LLMO_ALLOW_ANONYMOUS]'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l exit-on-error -d 'Exit 1 when the database cannot be opened or migrated, instead of serving not-ready and retrying in the background'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l apply-prune -d 'With `--apply`: also remove the providers, models and mappings the file does not name [env: LLMO_APPLY_PRUNE]'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand serve" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "add" -d 'Add a provider'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "list" -d 'List providers (lowest priority number first)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "show" -d 'Show one provider'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "update" -d 'Change a provider\'s settings (only the flags given)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "rename" -d 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "remove" -d 'Remove a provider and its model mappings'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "enable" -d 'Enable a provider (it receives traffic again)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "disable" -d 'Disable a provider (it keeps its settings but receives no traffic)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and not __fish_seen_subcommand_from add list show update rename remove enable disable help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l kind -d 'API flavour: openai, anthropic, gemini or openai-compatible (vLLM, Ollama, Groq, ...)' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l base-url -d 'API base URL [default: the vendor\'s; required for openai-compatible, e.g. http://localhost:11434/v1]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l api-key -d 'API key, stored in the database; `-` reads it from stdin (keeps it out of shell history)' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l api-key-env -d 'Name of an environment variable that holds the API key, read at use time (the secret never enters the database)' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l priority -d 'Routing tier: lower numbers are tried first (0 before 1 before 2) [default: 0]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l weight -d 'Share of traffic within its tier; 0 drains it (no new traffic, stays configured) [default: 1]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l max-retries -d 'Retries on the same provider after a retryable failure, before failing over (0-10) [default: 2]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l timeout -d 'Upstream timeout: bounds a whole non-stream call, and for streams the first byte and each gap between chunks, e.g. 30s, 1500ms, 2m [default: 60s]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l rate-limit -d 'Requests per minute sent to this provider; 0 = unlimited [default: 0]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l models -d 'Public model names served by this provider (created if new, mapped under the same upstream name)' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l no-api-key -d 'The server needs no key (a local Ollama or vLLM; openai-compatible only). One of `--api-key`, `--api-key-env` or this is required'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l disabled -d 'Add it disabled (no traffic until `llmo provider enable`)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l kind -d 'API flavour: openai, anthropic, gemini or openai-compatible' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l base-url -d 'API base URL [default: the vendor\'s; required for openai-compatible, e.g. http://localhost:11434/v1]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l api-key -d 'API key, stored in the database; `-` reads it from stdin (keeps it out of shell history)' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l api-key-env -d 'Name of an environment variable that holds the API key, read at use time (the secret never enters the database)' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l priority -d 'Routing tier: lower numbers are tried first (0 before 1 before 2) [default: 0]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l weight -d 'Share of traffic within its tier; 0 drains it (no new traffic, stays configured) [default: 1]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l max-retries -d 'Retries on the same provider after a retryable failure, before failing over (0-10) [default: 2]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l timeout -d 'Upstream timeout: bounds a whole non-stream call, and for streams the first byte and each gap between chunks, e.g. 30s, 1500ms, 2m [default: 60s]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l rate-limit -d 'Requests per minute sent to this provider; 0 = unlimited [default: 0]' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l models -d 'Public model names served by this provider (created if new, mapped under the same upstream name)' -r
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l no-api-key -d 'Forget the provider\'s key (stored or variable): for servers that need none, such as a local Ollama or vLLM'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from rename" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -l force -d 'Remove it even if it is the only provider of some model'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from enable" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from disable" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a provider'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "list" -d 'List providers (lowest priority number first)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one provider'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "update" -d 'Change a provider\'s settings (only the flags given)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "rename" -d 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a provider and its model mappings'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Enable a provider (it receives traffic again)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Disable a provider (it keeps its settings but receives no traffic)'
complete -c llmo -n "__fish_llmo_using_subcommand provider; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "add" -d 'Add a model served by one or more providers (or add mappings to an existing one)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "list" -d 'List models and their providers'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "show" -d 'Show one model and its provider mappings'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "remove" -d 'Remove a model (its mappings go with it; providers stay)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "unmap" -d 'Remove one provider from a model'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "enable" -d 'Enable a model'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "disable" -d 'Disable a model (clients get 404 model_not_found)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and not __fish_seen_subcommand_from add list show remove unmap enable disable help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -l provider -d 'A provider that serves it, optionally with the upstream model name it knows it by: `P` or `P=UPSTREAM_MODEL` (repeatable)' -r
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -l description -d 'Free text shown in listings' -r
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -l disabled -d 'Add it disabled'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -l search -d 'Only names containing TEXT, case-insensitively' -r
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -l limit -d 'At most N rows (1-1000), in name order; the next page starts with `--after` the last name shown' -r
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -l after -d 'Only names after NAME, in name order' -r
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -l provider -r
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from unmap" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from enable" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from disable" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a model served by one or more providers (or add mappings to an existing one)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "list" -d 'List models and their providers'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one model and its provider mappings'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a model (its mappings go with it; providers stay)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "unmap" -d 'Remove one provider from a model'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Enable a model'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Disable a model (clients get 404 model_not_found)'
complete -c llmo -n "__fish_llmo_using_subcommand model; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -f -a "create" -d 'Create a key and print it (once: it cannot be shown again)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -f -a "list" -d 'List keys (prefix, limits, last use; never the key)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -f -a "revoke" -d 'Revoke a key (a running server stops accepting it within 2 s)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and not __fish_seen_subcommand_from create list revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -l rpm -d 'Requests per minute allowed with this key; 0 = unlimited [default: 0]' -r
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -l models -d 'Public models this key may use [default: all]' -r
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -l search -d 'Only names containing TEXT, case-insensitively' -r
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -l limit -d 'At most N rows (1-1000), in name order; the next page starts with `--after` the last name shown' -r
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -l after -d 'Only names after NAME, in name order' -r
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a key and print it (once: it cannot be shown again)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "list" -d 'List keys (prefix, limits, last use; never the key)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a key (a running server stops accepting it within 2 s)'
complete -c llmo -n "__fish_llmo_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -f -a "export" -d 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -f -a "apply" -d 'Make the database match a catalog file, in one transaction; prints the plan'
complete -c llmo -n "__fish_llmo_using_subcommand config; and not __fish_seen_subcommand_from export apply help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -l out -d 'Write to this file instead of stdout' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -l dry-run -d 'Print the plan and change nothing'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -l prune -d 'Also remove the providers, models and mappings the file does not name (client keys are never revoked)'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from apply" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "export" -d 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Make the database match a catalog file, in one transaction; prints the plan'
complete -c llmo -n "__fish_llmo_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -f -a "status" -d 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -f -a "up" -d 'Apply pending migrations, each in its own transaction, after backing up the database'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and not __fish_seen_subcommand_from status up help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -l dry-run -d 'Show what would be applied, change nothing'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -l no-backup -d 'Skip the backup copy (`VACUUM INTO <db>.backup-v<N>-<time>`) of a non-empty database (PostgreSQL: no copy is taken; the `pg_dump` command to take one is printed)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from up" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "up" -d 'Apply pending migrations, each in its own transaction, after backing up the database'
complete -c llmo -n "__fish_llmo_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -f -a "copy" -d 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way'
complete -c llmo -n "__fish_llmo_using_subcommand db; and not __fish_seen_subcommand_from copy help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from copy" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "copy" -d 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way'
complete -c llmo -n "__fish_llmo_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l probe-timeout -d 'How long each probe may take, e.g. 5s or 1500ms [default: 5s]' -r
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l admin-key-file -d 'File holding the admin API key (enables /admin and /admin-ui) [env: LLMO_ADMIN_KEY holds the key itself]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l redis-url -d 'Redis holding client-key and provider rate limits shared across replicas, e.g. `redis://:PASSWORD@cache:6379` or `rediss://` (TLS); without it each replica counts its own traffic [env: LLMO_REDIS_URL]' -r
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l probe -d 'Also call each enabled provider\'s models list once (never a paid completion) to check that it is reachable and accepts the key. Without it nothing leaves this machine'
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -f -a "generate" -d 'Print a new random admin key, or write it to a file (mode 0600)'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and not __fish_seen_subcommand_from generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -l out -d 'Write the key to this file (created with mode 0600) instead of printing it' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -l force -d 'Replace FILE if it exists'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from generate" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from help" -f -a "generate" -d 'Print a new random admin key, or write it to a file (mode 0600)'
complete -c llmo -n "__fish_llmo_using_subcommand admin-key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand health" -l url -d 'Base URL of the server [default: http:// + the `listen` setting, with 0.0.0.0 / [::] read as this machine]' -r
complete -c llmo -n "__fish_llmo_using_subcommand health" -l timeout -d 'How long to wait for the answer, e.g. `5s` or `500ms`' -r
complete -c llmo -n "__fish_llmo_using_subcommand health" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand health" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand health" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand health" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand health" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand health" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand health" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand health" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand completions" -l db -d 'SQLite database file, or a PostgreSQL URL (postgres://user:password@host/db) [env: LLMO_DB] [default: llmo.db in the platform data dir, e.g. ~/.local/share/llmo/llmo.db]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand completions" -l config -d 'TOML config file [env: LLMO_CONFIG] [default: llmo.toml in the platform config dir, e.g. ~/.config/llmo/llmo.toml]' -r -F
complete -c llmo -n "__fish_llmo_using_subcommand completions" -l log-format -d 'Log line format on stderr: `text`, or `json` (one object per line) [env: LLMO_LOG_FORMAT] [default: text]' -r -f -a "text\t''
json\t''"
complete -c llmo -n "__fish_llmo_using_subcommand completions" -l json -d 'Print machine-readable JSON instead of tables'
complete -c llmo -n "__fish_llmo_using_subcommand completions" -s q -l quiet -d 'Print only data and errors'
complete -c llmo -n "__fish_llmo_using_subcommand completions" -s v -l verbose -d 'Print more detail (and debug logs)'
complete -c llmo -n "__fish_llmo_using_subcommand completions" -s h -l help -d 'Print help'
complete -c llmo -n "__fish_llmo_using_subcommand completions" -s V -l version -d 'Print version'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "serve" -d 'Run the OpenAI-compatible gateway (until SIGTERM/SIGINT)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "provider" -d 'Manage upstream providers (OpenAI, Anthropic, Gemini, OpenAI-compatible)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "model" -d 'Manage the public models clients ask for, and their provider mappings'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "key" -d 'Manage the API keys that clients of the gateway present'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "config" -d 'Export the catalog as a TOML file, or apply one (configuration as code)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "migrate" -d 'Show or apply database schema migrations'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "db" -d 'Copy a whole installation between databases (SQLite and PostgreSQL, either way)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "doctor" -d 'Check configuration, database, migrations and providers, and say how to fix problems'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "admin-key" -d 'Create the admin key that protects the admin API and web UI'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "health" -d 'Ask a running server whether it is ready, and show each provider\'s state'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c llmo -n "__fish_llmo_using_subcommand help; and not __fish_seen_subcommand_from serve provider model key config migrate db doctor admin-key health completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "add" -d 'Add a provider'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "list" -d 'List providers (lowest priority number first)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "show" -d 'Show one provider'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "update" -d 'Change a provider\'s settings (only the flags given)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "rename" -d 'Rename a provider (its mappings and settings stay; logs and stats keep the old name)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "remove" -d 'Remove a provider and its model mappings'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "enable" -d 'Enable a provider (it receives traffic again)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from provider" -f -a "disable" -d 'Disable a provider (it keeps its settings but receives no traffic)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "add" -d 'Add a model served by one or more providers (or add mappings to an existing one)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "list" -d 'List models and their providers'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "show" -d 'Show one model and its provider mappings'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "remove" -d 'Remove a model (its mappings go with it; providers stay)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "unmap" -d 'Remove one provider from a model'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "enable" -d 'Enable a model'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from model" -f -a "disable" -d 'Disable a model (clients get 404 model_not_found)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "create" -d 'Create a key and print it (once: it cannot be shown again)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "list" -d 'List keys (prefix, limits, last use; never the key)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "revoke" -d 'Revoke a key (a running server stops accepting it within 2 s)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "export" -d 'Print the whole catalog (providers, models, client-key limits) as TOML; secrets are never exported'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "apply" -d 'Make the database match a catalog file, in one transaction; prints the plan'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "status" -d 'Show every migration known to the binary or the database and its state (exit 1 when the database does not match this binary)'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "up" -d 'Apply pending migrations, each in its own transaction, after backing up the database'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from db" -f -a "copy" -d 'Copy a whole installation (catalog, keys, health, stats, request logs, stored responses) into an empty database, between SQLite and PostgreSQL either way'
complete -c llmo -n "__fish_llmo_using_subcommand help; and __fish_seen_subcommand_from admin-key" -f -a "generate" -d 'Print a new random admin key, or write it to a file (mode 0600)'
