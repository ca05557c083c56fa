"""Delay packets by a fixed time, for kernels built without `tc netem` (CONFIG_NET_SCH_NETEM unset,
as on this machine's kernel): every packet an iptables rule sends to NFQUEUE `QUEUE` is held for
`DELAY_MS` and then accepted, in arrival order. Run it in the sending host's network namespace:

    iptables-legacy -A OUTPUT -d TARGET -j NFQUEUE --queue-num QUEUE --queue-bypass
    python tests/netdelay.py QUEUE DELAY_MS

It prints "ready" once bound. Userspace adds ~0.1 ms to each held packet on top of the delay."""

from __future__ import annotations

import collections
import select
import sys
import time

from netfilterqueue import COPY_META, NetfilterQueue


def main(queue: int, delay_s: float) -> None:
    held: collections.deque = collections.deque()
    nfq = NetfilterQueue()
    nfq.bind(queue, lambda pkt: held.append((time.monotonic() + delay_s, pkt)), max_len=8192, mode=COPY_META)
    fd = nfq.get_fd()
    print("ready", flush=True)
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else 1.0
        if select.select([fd], [], [], timeout)[0]:
            nfq.run(block=False)
        now = time.monotonic()
        while held and held[0][0] <= now:
            held.popleft()[1].accept()


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]) / 1000)
