"""Two real processes appending to one lab at the same time never corrupt the log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ledger_helpers import make_ledger

WORKER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {helpers!r})
    from pathlib import Path
    from ledger_helpers import make_ledger
    from omnimind.ledger import NewEntry
    led = make_ledger({url!r}, Path({key!r}))
    me = sys.argv[1]
    import time
    Path({go!r} + "." + me).touch()  # ready
    deadline = time.monotonic() + 60
    while not Path({go!r}).exists() and time.monotonic() < deadline:  # start together
        time.sleep(0.005)
    t0 = time.time()
    for i in range({rounds}):
        if i % 3 == 0:
            led.append("system", "tick", {{"who": me, "i": i}}, actor=me)
        elif i % 3 == 1:
            led.append_batch([NewEntry("run", "note", {{"who": me, "i": i, "k": k}}, me, run=me) for k in range(7)])
        else:
            led.append_cycles(me, [(i * 100 + k, "s" * 64, "d" * 64) for k in range(25)], actor=me)
        if i % 10 == 0:
            led.checkpoint()
    print(t0, time.time())
    """
)
ROUNDS = 60
PER_WORKER = sum(1 if i % 3 == 0 else 7 if i % 3 == 1 else 25 for i in range(ROUNDS))


def test_two_processes_append_concurrently(db_url: str, tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    led = make_ledger(db_url, key)  # migrate + create the key before the workers start
    go = tmp_path / "go"
    code = WORKER.format(helpers=str(Path(__file__).parent), url=db_url, key=str(key), rounds=ROUNDS, go=str(go))
    procs = [
        subprocess.Popen([sys.executable, "-c", code, who], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for who in ("procA", "procB")
    ]
    deadline = time.monotonic() + 60  # wait until both workers are ready (imports done), then start them together
    while not all(Path(f"{go}.{who}").exists() for who in ("procA", "procB")) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    spans = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        spans.append(tuple(map(float, out.split())))
    assert max(s for s, _ in spans) < min(e for _, e in spans), f"the writers did not overlap: {spans}"
    report = led.verify(full=True)
    assert report.ok, report
    assert report.size == led.size() == 2 * PER_WORKER
    for who in ("procA", "procB"):
        assert len(led.query(actor=who, limit=10_000)) == PER_WORKER
    cp = led.checkpoint()
    assert led.prove_inclusion(cp.size - 1).checkpoint.size == cp.size
    led.engine.dispose()
