"""deploy/aws: the CloudFormation templates pass cfn-lint and the security rules a cloud engineer
would check first; the bootstrap script refuses bad input. (The moto deployment and the
network-namespace fleet test are still to come: issue 12.)"""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import BIN, ROOT

DEPLOY = ROOT / "deploy" / "aws"
TEMPLATES = ("targets.yaml", "fleet.yaml")
SERVICE_PORTS = {5557, 8089, 3306, 6379}


def _load(name):
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(DEPLOY / name))


def _resources(template, kind):
    return {k: r.get("Properties", {}) for k, r in template["Resources"].items() if r["Type"] == kind}


def test_templates_pass_cfn_lint():
    out = subprocess.run([str(BIN / "cfn-lint"), *(str(DEPLOY / t) for t in TEMPLATES)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_service_port_is_open_to_the_internet(name):
    template = _load(name)
    rules = [rule for sg in _resources(template, "AWS::EC2::SecurityGroup").values()
             for rule in sg.get("SecurityGroupIngress", [])]
    rules += list(_resources(template, "AWS::EC2::SecurityGroupIngress").values())
    assert rules
    for rule in rules:
        ports = set(range(int(rule.get("FromPort", 0)), int(rule.get("ToPort", 65535)) + 1))
        if ports & SERVICE_PORTS:
            assert rule.get("CidrIp") not in ("0.0.0.0/0",) and rule.get("CidrIpv6") != "::/0", rule
            assert "SourceSecurityGroupId" in rule or rule.get("CidrIp") == {"Ref": "WebUiCidr"}, rule


def test_the_web_ui_is_closed_unless_a_cidr_is_given():
    fleet = _load("fleet.yaml")
    assert fleet["Parameters"]["WebUiCidr"]["Default"] == ""
    assert fleet["Resources"]["WebUiIngress"]["Condition"] == "WebUiOpen"
    assert fleet["Conditions"]["WebUiOpen"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebUiCidr"}, ""]}]}


def test_storage_and_transit_are_encrypted_by_default():
    targets, fleet = _load("targets.yaml"), _load("fleet.yaml")
    (db,) = _resources(targets, "AWS::RDS::DBInstance").values()
    assert db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    assert db["ManageMasterUserPassword"] is True and "MasterUserPassword" not in db
    (redis,) = _resources(targets, "AWS::ElastiCache::ReplicationGroup").values()
    assert redis["AtRestEncryptionEnabled"] is True and targets["Parameters"]["RedisTransitEncryption"]["Default"] == "true"
    assert redis["NumCacheClusters"] == 2 and redis["AutomaticFailoverEnabled"] is True
    (params,) = _resources(targets, "AWS::ElastiCache::ParameterGroup").values()
    assert params["Properties"]["maxmemory-policy"] == "allkeys-lru"
    for table in _resources(targets, "AWS::DynamoDB::Table").values():
        assert table["SSESpecification"] == {"SSEEnabled": True} and table["BillingMode"] == "PAY_PER_REQUEST"
    (bucket,) = _resources(fleet, "AWS::S3::Bucket").values()
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    master = fleet["Resources"]["Master"]["Properties"]
    worker = fleet["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    for spec in (master, worker):
        assert all(d["Ebs"]["Encrypted"] is True for d in spec["BlockDeviceMappings"])
        assert spec["MetadataOptions"] == {"HttpTokens": "required"}


def test_the_tables_are_the_ones_cacheswarm_creates():
    """Same names, keys and index as the suite's own create_table (stores/dynamodb_*.py)."""
    from cacheswarm.stores import dynamodb_products, dynamodb_restaurants

    tables = {t["TableName"]["Fn::Sub"]: t for t in _resources(_load("targets.yaml"), "AWS::DynamoDB::Table").values()}
    assert set(tables) == {dynamodb_products.table_name("${Namespace}"), dynamodb_restaurants.table_name("${Namespace}")}
    products = tables[dynamodb_products.table_name("${Namespace}")]
    assert products["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    restaurants = tables[dynamodb_restaurants.table_name("${Namespace}")]
    assert [i["IndexName"] for i in restaurants["GlobalSecondaryIndexes"]] == [dynamodb_restaurants.INDEX]


def test_no_secret_travels_in_user_data_or_outputs():
    fleet = _load("fleet.yaml")
    text = json.dumps(fleet["Resources"]["Master"]["Properties"]["UserData"]) + json.dumps(
        fleet["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"])
    assert "--db-secret '${DatabaseSecretArn}'" in text and "--redis-secret '${RedisSecretArn}'" in text
    assert "password" not in text.lower() and "token" not in text.lower()
    targets = _load("targets.yaml")
    for name, out in targets["Outputs"].items():
        assert "resolve:secretsmanager" not in json.dumps(out), name


@pytest.mark.parametrize("args,message", [
    (["--role", "boss", "--source", "."], "--role must be master or worker"),
    (["--role", "worker", "--source", "."], "a worker needs --master-host"),
    (["--role", "master"], "--source"),
    (["--role", "master", "--source", ".", "--bogus", "1"], "unknown option --bogus"),
])
def test_the_bootstrap_refuses_bad_input(args, message, tmp_path):
    out = subprocess.run(["bash", str(DEPLOY / "bootstrap.sh"), *args, "--prefix", str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert not (tmp_path / "p").exists()  # nothing installed
