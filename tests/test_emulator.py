"""The embedded DynamoDB emulator is a real server process on loopback, started and stopped by us."""

import boto3

from cacheswarm.emulator import DynamoDBEmulator


def test_emulator_serves_dynamodb_and_stops(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with DynamoDBEmulator() as emu:
        assert emu.endpoint.startswith("http://127.0.0.1:")
        ddb = boto3.client("dynamodb", endpoint_url=emu.endpoint, region_name="us-east-1")
        ddb.create_table(TableName="cswtest-emu", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="cswtest-emu", Item={"id": {"N": "1"}, "name": {"S": "kettle"}})
        got = ddb.get_item(TableName="cswtest-emu", Key={"id": {"N": "1"}}, ReturnConsumedCapacity="TOTAL")
        assert got["Item"]["name"]["S"] == "kettle"
        assert got["ConsumedCapacity"]["CapacityUnits"] > 0
        proc = emu.proc
    assert proc.poll() is not None  # the child is gone
    assert not emu.answers()
    assert list(tmp_path.iterdir()) == []  # it wrote nothing where it was started


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
