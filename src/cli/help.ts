/** Usage text per command; the README documents the same commands with the same examples. */
export const HELP: Record<string, string> = {
  main: `understudy — keeps a SQLite fleet and its standby survivable

Usage: understudy <command> [options]

Commands:
  demo                      run the whole pipeline on a scaled-down fleet, no cloud account needed
  init                      write a commented starter understudy.yml
  validate [--online]       check the config, the disk, Litestream and (online) the store
  discover DIR              list the SQLite databases in DIR and whether each is replicated
  import FILE -o OUT        turn an existing litestream.yml into an understudy.yml
  render TARGET             Litestream config, launchd/systemd units, the GitHub heartbeat workflow
  replicate                 run Litestream under supervision on the primary
  follow                    keep live copies of the followed databases on the standby
  status                    show replication or follow state per database
  run                       the node daemon: replicate or follow as the lease says; switchover, automatic failover
  switchover --to NODE      planned handover to a caught-up standby, nothing lost (needs run on both nodes)
  promote                   make this standby the primary (failover): lease, copies, names, hook
  drill run | --local       the plan's DR drill, on the real pair or on one machine, every §8.3 criterion measured
  secrets check             resolve every secret this node needs, saying which layer answered
  secrets keep-session      keep the Bitwarden session unlocked (plan §7.3), as a service
  rejoin                    set a superseded old primary's databases aside, with what it wrote after the fence
  restore DB -o PATH        restore one database from the store, optionally to a point in time
  verify                    check every replica in the store against its tier
  cost                      estimate the store's monthly cost (storage and operations)
  health serve              the node's health endpoint (:8099): /health, /primary, /standby?lag=, /metrics
  heartbeat watch URL…      the external watcher: Slack alert after 2 failures, escalation after 5
  heartbeat once URL…       one check with the same state, for cron
  discovery point NAME      move a service name to a node (hosts file, command hook or DNS responder)
  discovery status          where each failover name points
  discovery serve-dns       answer DNS for the failover names
  doctor                    check this node's prerequisites: Litestream, credentials, disk, store, peer, clock
  inference monitor         check the Ollama hosts, write the plan's health file (hysteresis, overrides)
  inference proxy           serve Ollama's and OpenAI's API, routing by tier and model with failover
  inference route           print where a request would go now, and why

Common options:
  --config FILE             the config (default ./understudy.yml)
  --json                    print data as JSON
  --help                    help for a command

Exit codes: 0 done, 1 the check found a problem, 2 bad input (config, arguments), 3 failed to run.`,

  demo: `Usage: understudy demo [--scale N] [--seconds S] [--azurite] [--litestream PATH] [--keep] [--json]

Creates a scaled-down copy of the plan's 69-database fleet in a temporary directory, writes load,
replicates it with the real Litestream to a local file store (or to an Azurite it starts, --azurite),
runs a standby follower into a second data dir, verifies the store, restores three databases to compare
their rows, checks every followed copy against the primary, and prints the status and the lag. It uses
the Litestream found by default (bundled on Linux x64, else on PATH or Homebrew's), or --litestream PATH
(0.3.x or 0.5.x), and says which.

  --scale N      fraction of the plan's sizes (default 0.002: about 2.5 MB in all)
  --seconds S    how long to write load (default 12)
  --azurite      use Azure Blob semantics through a local Azurite instead of a directory
  --keep         keep the temporary directory and print its path

Example:
  understudy demo
  understudy demo --azurite --seconds 20
  understudy demo --litestream /opt/homebrew/bin/litestream`,

  init: `Usage: understudy init [-o FILE] [--force]

Writes a commented starter config (default ./understudy.yml); refuses to overwrite without --force.

Example:
  understudy init && understudy validate`,

  validate: `Usage: understudy validate [--config FILE] [--online] [--node NAME] [--json]

Checks, one line each: the config loads (tiers exist, sync < retention, replica paths unique and not
nested); every database on disk is replicated or excluded; RPO-breaking sync intervals; Litestream is
present and of the expected version; credentials resolve. --online also writes, reads back and deletes
a probe object in the store. Exits 1 if any check fails.

Example:
  understudy validate --config examples/alai.yml
  LITESTREAM_AZURE_ACCOUNT_KEY=... understudy validate --online`,

  discover: `Usage: understudy discover DIR [--config FILE] [--depth N] [--json]

Lists the SQLite databases in DIR (recognised by their header, not their name) with size, journal
mode and WAL size, each marked with its tier, EXCLUDED or UNREPLICATED. Exits 1 when any database is
unreplicated, so it can run from cron. Without a config file every database is unreplicated.

Example:
  understudy discover /Users/makinja/system/databases --config understudy.yml`,

  import: `Usage: understudy import LITESTREAM_YML -o OUT.yml [--node NAME] [--force] [--json]

Turns an existing Litestream config (0.3 "replicas:" lists or 0.5 "replica:") into an understudy.yml,
inferring each database's tier from its retention and sync interval, and says which it had to guess.
Literal keys are never copied.

Example:
  understudy import /Users/makinja/system/config/litestream.yml -o understudy.yml`,

  render: `Usage: understudy render litestream|launchd ROLE|systemd ROLE|github-workflow|prometheus-rules [options]

litestream --role primary|standby [--node NAME] [--litestream 0.3|0.5] [-o FILE]
  The Litestream config for a node. primary: every database, replicating. standby: the databases whose
  tier follows, for "litestream restore -config". For the line --litestream names, else litestream.format,
  else the binary's found here, else 0.3. The Azure account key is never written: Litestream reads it from
  LITESTREAM_AZURE_ACCOUNT_KEY.
launchd ROLE | systemd ROLE [--node NAME] [-o FILE]
  A service for one long-running role: run (the node daemon, the same on both nodes; the lease decides
  what it does), replicate, follow, inference-monitor, inference-proxy, health, heartbeat, dns, secrets
  (keeps the Bitwarden session). launchd: RunAtLoad, KeepAlive, ThrottleInterval 10, logs in STATE_DIR/logs. systemd:
  Restart=always. Secrets stay references; env: ones need values in the service's environment:
  systemd reads them from --environment-file PATH (default /etc/understudy/ROLE.env; --write-environment-file
  writes it, mode 0600); launchd has no such file: use file: references, or --inline-secrets -o FILE
  (written 0600). Nothing secret is ever printed.
github-workflow [--every 5] [--interval 60s] [--install CMD] [--tailscale] [-o FILE]
  A GitHub Actions heartbeat whose job watches for its whole window (schedules run at most every 5
  minutes, often late) and carries the watcher's state between runs in the Actions cache. It watches
  ANVIL_HEALTH_URL/primary and FORGE_HEALTH_URL/standby?lag=60s; alerts carry the endpoint's reason.
prometheus-rules [-o FILE]
  Alerting rules for understudy's metrics (no primary, Litestream down, standby lag above the RPO, a
  stalled follower, the lease changing hands or flapping, an Ollama host down, the heartbeat silent).

Example:
  understudy render litestream --role primary -o /etc/litestream.yml
  understudy render launchd follow --config examples/alai.yml --node forge
  understudy render launchd run --config examples/alai.yml --node forge
  understudy render systemd replicate --config examples/alai.yml
  understudy render github-workflow --tailscale -o .github/workflows/heartbeat.yml
  understudy render prometheus-rules --config examples/alai.yml -o /etc/prometheus/rules/understudy.yml`,

  replicate: `Usage: understudy replicate [--config FILE] [--node NAME] [--metrics-listen HOST:PORT]

Runs Litestream as a supervised child on the primary: restarts it with exponential backoff, passes
SIGTERM through (a stop takes at most 25s), logs its events as JSON, keeps per-database state in
STATE_DIR/replicate-state.json, and serves Prometheus metrics (its own and Litestream's) on /metrics.
Litestream starts only once this node holds the lease in the store (renewed every third of
failover.lease-ttl); when it cannot renew, or another node took it, it fences itself (Litestream
stopped, failover.hooks.demote run) before the lease expires. A superseded node refuses to start.
Litestream gets only the environment it needs. Every replicate.gap-check-interval (60s) it checks
that the segments Litestream uploaded are in the store, and forces a new generation past a gap.
Refuses a --node that is not the primary.

Example:
  understudy replicate --config understudy.yml`,

  status: `Usage: understudy status [--config FILE] [--node NAME] [--json]

Shows the state of the roles that ran on this machine. Primary (replicate): per database present,
generation, position, last upload and its age, uploads, last error. Standby (follow): per database
phase (following, waiting, bootstrapping, stalled, damaged), applied position, lag (age of the oldest
primary commit the copy lacks; it grows while nothing confirms the copy is current), last apply,
bootstraps, last error with its next retry, the follower's store operations per minute, and problems.
Exits 1 if a role is not running or not reporting (state older than 5 poll intervals, >= 10s), the
store cannot be read, a database is not following or has a current error, or the worst lag exceeds
health.ready-lag.

Example:
  understudy status --json | jq '.databases[] | select(.lastError)'`,

  follow: `Usage: understudy follow [--config FILE] [--node NAME] [--data-dir DIR] [--metrics-listen HOST:PORT]

The standby's long-running role. Keeps a copy of every database whose tier follows in the standby's
data dir (--data-dir overrides it): bootstraps from the newest snapshot, then applies only committed
transactions from new WAL segments, each LZ4 frame and WAL checksum verified. Steady state needs no
listings: it reads the positions the primary publishes. Readers may open the copies at any time,
read-only or read-write: they see a committed state or wait. A lock keeper child process holds each
apply's lock, so a killed follower is rolled back before readers see it. A gap or corrupt segment in
the store is held (everything before it applied) and retried with backoff; a full disk or a failed
apply keeps the last good state; a copy changed by another process is rebuilt; a file it did not make
is never replaced. One follower per data dir: a second is refused with the first one's pid. Refuses a
--node that is not a standby. Metrics on /metrics (default 127.0.0.1:9811).

Example:
  understudy follow --config understudy.yml --node forge`,

  promote: `Usage: understudy promote [--config FILE] [--node NAME] [--force --reason TEXT] [--json]

Failover on the standby when the primary is lost. Refuses while another node holds a live lease
(--force --reason takes it anyway, logged). Stops the follow daemon, applies everything the store holds,
reports per database how much may have been lost, takes the lease with the next epoch (the old primary
is fenced for good), turns every copy into a WAL-mode database, restores the databases whose tier does
not follow from the store, points discovery.names here and runs failover.hooks.promote, timing each
step. Then run understudy replicate (or run) on this node.

Example:
  understudy promote --config examples/alai.yml --node forge`,

  run: `Usage: understudy run [--config FILE] [--node NAME] [--metrics-listen HOST:PORT]

The node daemon, the same service on every node: runs replicate where this node holds the lease and
follow elsewhere, and changes role without a restart. As a standby it takes a lease a switchover offers
it once its copies are at the final positions, and with failover.mode automatic promotes itself when
the lease has expired and the primary's /primary failed failover.failed-checks checks in a row. As the
primary it hands over when understudy switchover names another node, then sets its databases aside and
follows. A node superseded while it was away waits for understudy rejoin, then follows.

Example:
  understudy run --config examples/alai.yml --node anvil`,

  switchover: `Usage: understudy switchover --to NODE [--config FILE] [--reason TEXT] [--timeout 3m] [--json]

Planned handover, from any machine with the config. Checks that NODE's /standby endpoint says it is
caught up, then asks the primary (through the store) to hand over: it runs its demote hook, lets
Litestream upload what is left and exit, publishes its final positions and offers the lease to NODE,
which applies exactly those positions and takes the lease with the next epoch. Nothing written is lost.
If NODE does not take over within failover.switchover-timeout, the primary resumes. Both nodes must run
understudy run. Run it again with the old primary's name to fail back.

Example:
  understudy switchover --config examples/alai.yml --to forge`,

  drill: `Usage: understudy drill --local [--fast] [--manual] [--scale 0.0005] [--report-dir drills] [--keep]
       [--break heartbeat-webhook|replication|p0-database] [--litestream PATH] [--json]
       understudy drill check [--config FILE] [--node NAME] [--ping-slack] [--json]
       understudy drill run [--config FILE] [--node NAME] [--yes] [--promote] [--trigger CMD] [--recover CMD]
       [--rejoin CMD] [--heartbeat-record FILE|URL] [--step-timeout 30m] [--ignore-checks] [--report-dir DIR] [--json]

The plan's section 8 drill, measured by understudy itself. drill run runs it on the real pair, from the
standby: drill check first (stops when a prerequisite fails, unless --ignore-checks), your confirmation
(type the primary's name; --yes when not at a terminal), the baseline, then the failure (drill.trigger, or
you pull the plug while it watches /primary), when Slack accepted the alert (from the heartbeat watcher's
record, drill.heartbeat-record: its state file or its /state URL), the failover (automatic, or your promote;
--promote runs it as soon as Slack has the alert), the P0 databases here at the old primary's last uploaded
position, RTO (the failure to an application's row here in the store), a test prompt through the inference
proxy, the old primary's return (drill.recover, or you) and rejoin (drill.rejoin, or you: its report in the
store gives the rows it had not uploaded, the RPO), and the failback by switchover, checking the final
positions the old primary applied hold everything this node had. Each step waits at most --step-timeout.

drill --local sets up two nodes on this machine, no cloud account: ANVIL and FORGE as process groups of
their own (understudy run, health serve, an Ollama stand-in; FORGE also the inference monitor and proxy), a
file store, the plan's 69 databases at --scale of their sizes under steady writes, a heartbeat watcher
posting to a Slack stand-in; then runs the same measured drill on FORGE, with the power loss of ANVIL's
whole group as its failure. The plan's timings by default (heartbeat 60s, alert after 2 failures, lease
15s); --fast scales them for CI and the report says so. --manual: failover.mode manual, promote after the
alert. --break sets one thing up wrong on purpose, to see the drill catch it. --litestream runs both
nodes on that binary (0.3.x or 0.5.x).

Both measure the plan's six criteria (alert latency, RPO, RTO, the P0 databases, inference, no loss after
failback) plus time to rejoin and the writes kept aside, and write drill-TIME.md and .json (drill run: to
STATE_DIR/drills). Exit 0 only when all pass.

drill check runs the plan's 8.1 prerequisites on the real pair, one line each with the fix: every
database has a replica, the primary serves /primary, each standby is ready within health.ready-lag,
the inference monitor's health file is fresh, the failover names point at the primary, the heartbeat
has targets and a webhook (--ping-slack posts a test message), this node's secrets resolve here.

Example:
  understudy drill --local --fast
  understudy drill check --config examples/alai.yml --node forge --ping-slack
  understudy drill run --config examples/alai.yml --node forge`,

  rejoin: `Usage: understudy rejoin [--config FILE] [--node NAME] [--json]

On a returning old primary that was superseded (another node holds the lease at a later epoch) and
whose replicate is stopped: compares each of its databases with what its epoch got into the store
(rows per table written after the last upload, and when), moves them aside whole next to the data dir
with that report, and leaves the data dir to understudy follow, which copies the new primary.

Example:
  understudy rejoin --config examples/alai.yml --node anvil`,

  restore: `Usage: understudy restore DB [--config FILE] [--at TIME] [-o PATH] [--force] [--json]

Restores one database from the store into a new file (default DB.restored): the newest snapshot at or
before --at (an ISO time), then every WAL segment up to it, verified as it goes, with a progress bar.

Example:
  understudy restore invoices.db --at 2026-11-28T23:00:00Z -o /tmp/invoices.db`,

  verify: `Usage: understudy verify [--config FILE] [--node NAME] [--timeout 60s] [--shallow] [--json]

Reads the store and reports per database: generations, newest snapshot, newest WAL segment and their
ages; checks that each replica is restorable (the WAL after the newest snapshot chains to the newest
segment: offsets, index roll-overs, checksums; --shallow only lists); on the primary it also compares
the store with the local files. Exits 1 if any database of a critical tier (P0) is broken, has no
snapshot, a stale snapshot or trails local writes. Replicas not judged within --timeout are errors.

Example:
  understudy verify --config examples/alai.yml`,

  cost: `Usage: understudy cost [--config FILE] [--json]

Estimates the store's monthly cost from the fleet: storage per retention tier and operations (WAL
uploads from each sync interval and write rate, snapshots, retention listings, the standby's reads and
listings), beside the same fleet at a 1 s sync interval and the storage-only figure the plan used.

Example:
  understudy cost --config examples/alai.yml`,

  inference: `Usage: understudy inference monitor|proxy|route [--config FILE | --routing tier-routing.json] [options]

Hosts, tier ownership and failover rules come from the config's inference: section or, with --routing,
from the plan's tier-routing.json (ollamaHosts, failoverRules) read as it is.

  monitor   checks each host's health path every --interval (default 15s) with its timeout; a host turns
            unhealthy after --fail-after failed checks in a row (default 2) and healthy after
            --recover-after good ones (default 2); writes the plan's health file atomically
            (--health-file, default /tmp/ollama-health.json) and honours the override file
            (--override-file, default /tmp/ollama-health-override.json: entries with "override": true).
            --once checks once, continuing the counts of the last health file; exits 1 if a host is down.
  proxy     listens on --listen HOST:PORT (default 127.0.0.1:11435) and serves Ollama's API (/api/chat,
            /api/generate, /api/embed, /api/embeddings, /api/tags, /api/show, /api/ps, /api/version, /) and
            the OpenAI-compatible /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, plus
            /metrics. Picks the host by the X-Understudy-Tier header or by who has the model, from live
            health (its own monitor, same options); maps model names on failover; sends to_claude tiers to
            Anthropic's Messages API (key: the config's inference.claude.api-key, or --claude-key REF,
            default env:ANTHROPIC_API_KEY). --token REF requires "Authorization: Bearer <token>".
            --health-file makes it also write the plan's health file.
  route     --model M [--tier T] [--endpoint chat|generate|embed]: where that request would go now and
            why, from a fresh health file or a live check.

  --tailscale   use each host's tailscale URL (running on the other machine)

Example:
  understudy inference monitor --routing examples/tier-routing.json --once
  understudy inference proxy --config examples/alai.yml --listen 127.0.0.1:11435
  understudy inference route --routing examples/tier-routing.json --tier 2 --model qwen2.5-coder:32b`,

  health: `Usage: understudy health serve [--config FILE] [--node NAME] [--listen HOST:PORT]

The node's health endpoint (default 0.0.0.0:8099, health.listen). It only reads the daemons' state files,
so it answers whatever else is down, and shows nothing secret. 200 or 503, like Patroni's:
  /health        200 always: {"status":"ok","host":…,"ts":…,"role":…, replication/follow summary, problems}
  /primary       200 if this node is the primary and replicate runs with Litestream up
  /standby       200 if this node is the standby and follow runs; ?lag=10s also needs the worst lag below it
  /liveness      200 while the server answers
  /readiness     the role's check (a standby: lag below health.ready-lag, default 60s)
  /metrics       Prometheus

Example:
  understudy health serve --config examples/alai.yml --node anvil`,

  secrets: `Usage: understudy secrets check [--config FILE] [--node NAME] [--json]
       understudy secrets keep-session [--config FILE] [--node NAME] [--interval 5m] [--once] [--json]

check resolves every secret reference in the config on this node alone (env:, file:, bitwarden:ITEM[#FIELD],
or a list of them tried in order) and shows which one answered, or the error; exit 1 if any fails.
keep-session checks bw status every --interval and unlocks a locked vault with secrets.bitwarden.password
(in bw's environment, never its command line), writing the session key to secrets.bitwarden.session-file
(0600); it says when it cannot (not logged in: run bw login --apikey once).

Example:
  understudy secrets check --config examples/alai.yml --node forge
  understudy secrets keep-session --config examples/alai.yml --node forge --once`,

  heartbeat: `Usage: understudy heartbeat watch|once URL… [--config FILE] [--interval 60s] [--timeout 10s]
         [--state FILE] [--alert-after 2] [--escalate-after 5] [--reminder 30m] [--for DURATION]
         [--slack-webhook URL|REF] [--escalation-webhook URL|REF] [--metrics-listen HOST:PORT]

The outside observer (run it on a third machine). Each check GETs every URL; 2xx is up. After
--alert-after failures in a row it posts to Slack #ops (an incoming webhook), after --escalate-after to the
escalation webhook (a DM), reminds #ops every --reminder while still down, and posts one recovery notice.
Counts, alerts sent and undelivered notices live in --state (default heartbeat-state.json), so a restarted
watcher or a fresh CI job carries on. Webhooks: a secret reference (env:NAME, file:PATH) or a URL; or
heartbeat.slack-webhook / heartbeat.escalation-webhook in the config. watch runs until stopped (or for
--for); once does one round and exits 1 if a target is down. Watch /primary and /standby?lag=60s, not
/health; a failed understudy endpoint's reason goes into the alert. --metrics-listen serves the
watcher's own metrics (targets up, failures, last round) so a silent watcher is noticed too, and /state,
its record (when Slack accepted each alert), which drill run reads.

Example:
  understudy heartbeat watch http://100.103.49.98:8099/primary "http://100.104.164.86:8099/standby?lag=60s" --slack-webhook env:SLACK_OPS_WEBHOOK --escalation-webhook env:SLACK_DM_WEBHOOK --metrics-listen 127.0.0.1:9812
  understudy heartbeat once http://100.103.49.98:8099/primary --state /var/lib/understudy/heartbeat.json`,

  discovery: `Usage: understudy discovery point NAME --to NODE [--address IP] [--provider hosts|command|dns]
       understudy discovery status [NAME…]
       understudy discovery serve-dns [--listen HOST:PORT]

Moves a service name (anvil.alai) to a node's Tailscale address (or its address), through one of:
  hosts     a managed block in discovery.hosts-file (default /etc/hosts): atomic, idempotent, backed up
  command   discovery.command, run as COMMAND NAME ADDRESS (your Tailscale/Cloudflare/router script)
  dns       the records of understudy's own DNS responder (serve-dns), for a tailnet split-DNS rule
status shows what the hosts file, the responder and this machine's resolver say for each name.

Example:
  understudy discovery point anvil.alai --to forge --config examples/alai.yml
  understudy discovery status --config examples/alai.yml`,

  doctor: `Usage: understudy doctor [--config FILE] [--node NAME] [--peer URL] [--json]

Checks this node's prerequisites, one line each, pass or fail with the fix: Litestream present and the
expected version, credentials resolvable, the store reachable and writable, the data dir present with
room for the fleet (twice it on a standby), the state dir writable, the peer's health endpoint reachable
(--peer, default http://PEER:8099/health) and the clock skew against the peer. Exits 1 if any fails.

Example:
  understudy doctor --config examples/alai.yml --node forge`,
};
