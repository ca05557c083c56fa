"""The embedded DynamoDB is a real server process on loopback, started and stopped by us:
Amazon's DynamoDB Local where Java and the npm package are there, moto's server otherwise."""

import os
import signal
import socket
import subprocess
import sys
import time

import boto3
import pytest

from cacheswarm.emulator import DynamoDBLocal, MotoServer, embedded, find_dynamodb_local

FOUND = find_dynamodb_local()
needs_local = pytest.mark.skipif(isinstance(FOUND, str), reason=str(FOUND))


def _serves_and_stops(emu, tmp_path):
    ddb = boto3.client("dynamodb", endpoint_url=emu.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ddb.create_table(TableName="cswtest-emu", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="cswtest-emu", Item={"id": {"N": "1"}, "name": {"S": "kettle"}})
    got = ddb.get_item(TableName="cswtest-emu", Key={"id": {"N": "1"}}, ReturnConsumedCapacity="TOTAL")
    assert got["Item"]["name"]["S"] == "kettle"
    assert got["ConsumedCapacity"]["CapacityUnits"] > 0
    return ddb


@needs_local
def test_dynamodb_local_serves_dynamodb_and_stops(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with embedded() as emu:
        assert isinstance(emu, DynamoDBLocal) and emu.name.startswith("DynamoDB Local 3.")
        assert emu.endpoint.startswith("http://127.0.0.1:")
        ddb = _serves_and_stops(emu, tmp_path)
        # credentials and region of another client (a worker's, say) see the same tables (-sharedDb)
        other = boto3.client("dynamodb", endpoint_url=emu.endpoint, region_name="eu-west-1",
                             aws_access_key_id="other", aws_secret_access_key="other")
        assert "cswtest-emu" in other.list_tables()["TableNames"]
        # what DynamoDB does and moto did not: a transaction is charged twice its items' units
        tx = ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "cswtest-emu", "Item": {"id": {"N": "2"}}}}],
                                      ReturnConsumedCapacity="TOTAL")
        assert tx["ConsumedCapacity"][0]["CapacityUnits"] == 2.0
        proc, workdir = emu.proc, emu.workdir
    assert proc.poll() is not None  # the child is gone
    assert not emu.answers() and not os.path.exists(workdir)
    assert list(tmp_path.iterdir()) == []  # it wrote nothing where it was started


def _addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return [a for a in out if "." in a and not a.startswith("127.")]


@needs_local
def test_dynamodb_local_listens_on_loopback_only():
    """DynamoDB Local has no bind option and listens on every interface; our launcher binds it to
    127.0.0.1. The same port on this machine's other addresses refuses the connection."""
    others = _addresses()
    if not others:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with embedded() as emu:
        assert emu.loopback_only
        socket.create_connection(("127.0.0.1", emu.port), timeout=2).close()
        for address in others:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, emu.port), timeout=2).close()


@needs_local
def test_dynamodb_local_goes_with_a_killed_parent(tmp_path):
    """SIGKILL leaves no atexit to run: the kernel's parent-death signal (and the launcher's own watch
    of its parent) stop the Java process anyway."""
    script = ("import sys; from cacheswarm.emulator import embedded; e = embedded(); "
              "print(e.proc.pid, e.port, flush=True); sys.stdin.read()")
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pid, port = map(int, parent.stdout.readline().split())
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        for _ in range(300):  # the JVM takes a moment to exit (up to 30 s on a busy machine: a liveness wait, not a timing)
            if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"DynamoDB Local (pid {pid}) outlived its killed parent")
    finally:
        parent.kill()


def test_moto_is_the_fallback_with_one_line(tmp_path):
    """Where DynamoDB Local cannot run (here: pointed at a directory without it) the embedded DynamoDB
    is moto's server, and one line says why and how to get DynamoDB Local."""
    script = ("import logging; logging.basicConfig(format='%(message)s'); from cacheswarm.emulator import embedded; "
              "e = embedded(); print(e.name); e.stop()")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "CACHESWARM_DYNAMODB_LOCAL": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("moto ")
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "holds no DynamoDBLocal.jar" in lines[0] and "moto" in lines[0], lines


def test_moto_serves_dynamodb_and_stops(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with MotoServer() as emu:
        _serves_and_stops(emu, tmp_path)
        proc = emu.proc
    assert proc.poll() is not None
    assert not emu.answers()
    assert list(tmp_path.iterdir()) == []


def test_emulator_keeps_answering_past_a_pipe_full_of_logs(dynamodb_client):
    """Its output once went to a pipe nobody read: after ~800 requests the server blocked on
    logging and every call timed out. Now 2,000 calls in a row all answer."""
    from concurrent.futures import ThreadPoolExecutor

    def calls(n):
        for _ in range(n):
            dynamodb_client.list_tables(Limit=1)
        return n

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(calls, [500] * 4)) == 2000


def test_the_warm_up_stops_once_three_batches_are_no_faster_than_the_three_before():
    from cacheswarm.runtime import warmed

    falling = [40.0, 39.0, 31.0, 31.0, 27.0, 25.0]  # the median of the last three 27 < 0.9 x 39: still falling
    assert not warmed(falling[:5]) and not warmed(falling)
    assert warmed([*falling, 27.0, 24.0, 27.0])  # 27 vs 27: it stopped
    assert warmed([9.4, 6.2, 7.7, 8.0, 8.2, 7.6])  # no faster after the first batches
    assert not warmed([9.4, 6.2, 7.7, 8.0, 2.0, 7.6, 1.0, 1.2])  # the last three fell well below: go on
