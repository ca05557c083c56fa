"""Work a list of chunks off with a few threads (seeding): first error re-raised in the caller."""

from __future__ import annotations

import threading


def in_threads(chunks: list, parallel: int, work, progress=None) -> None:
    """Call work(take, done, k) in `parallel` threads. take() gives the next chunk, or None when
    there is none left or another thread failed; done(n) reports progress (serialised)."""
    todo = list(reversed(chunks))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def take():
        with lock:
            return None if errors or not todo else todo.pop()

    def done(n: int) -> None:
        if progress:
            with lock:
                progress(n)

    def run(k: int) -> None:
        try:
            work(take, done, k)
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(max(1, parallel))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException as e:  # Ctrl-C / SIGTERM in the caller: let each thread finish its chunk
        errors.append(e)
        for t in threads:
            t.join()
        raise
    if errors:
        raise errors[0]
