"""The benchmark harness (`python3 bench/run.py`, `make bench`, `make bench-smoke`).

    common.py       paths, logging, small file helpers shared by every part
    measure.py      one child process timed (wall, CPU, peak RSS), repetitions, the run of every job
    verify.py       did a contender really do the work (certificates, no-op snapshots, Ansible recap, Pebble's log)
    stack.py        the ACME stack (scripts/stack.sh), the contenders' venvs, the seed store for no-op runs
    report.py       ratios, targets, the table, latest.md / latest.json, the exit status
    contenders/     one file per contender (floor, ours, certbot, community_crypto)
    storage_info.py the storage `info` benchmark (cert_store over many stored certificates)

floor.py, mkstore.py and dns01.py are scripts the harness (or a person) runs as separate processes.
"""
