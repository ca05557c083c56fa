"""deploy/aws: the CloudFormation templates pass cfn-lint and the security rules a cloud engineer
would check first, deploy into moto's CloudFormation (cacheswarm then seeds and runs on the stack's
tables and uploads into its bucket); the bootstrap script refuses bad input. The bootstrap's real
run on separate hosts is test_fleet_netns.py."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import BIN, ROOT

DEPLOY = ROOT / "deploy" / "aws"
TEMPLATES = ("targets.yaml", "fleet.yaml", "global-tables.yaml")
NETWORKED = ("targets.yaml", "fleet.yaml")  # (the templates with security groups)
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


@pytest.mark.parametrize("name", NETWORKED)
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


def test_the_global_tables_are_cacheswarms_tables_replicated_encrypted_and_watched():
    """global-tables.yaml: the same tables as targets.yaml's (names, keys, index), each a global table with
    a replica in the stack's region, ReplicaRegion2 and, given, ReplicaRegion3; every replica with point-in-
    time recovery and its region's customer-managed key; streams of both images; an alarm on replication
    latency per table and receiving region, and one on throttling per table."""
    glob, targets = _load("global-tables.yaml"), _load("targets.yaml")
    own = {t["TableName"]["Fn::Sub"]: t for t in _resources(targets, "AWS::DynamoDB::Table").values()}
    tables = {t["TableName"]["Fn::Sub"]: t for t in _resources(glob, "AWS::DynamoDB::GlobalTable").values()}
    assert set(tables) == set(own)
    keys = {}
    for name, t in tables.items():
        for field in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode"):
            assert t.get(field) == own[name].get(field), (name, field)
        assert t["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert t["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
        first, second, third = t["Replicas"]
        assert first["Region"] == {"Ref": "AWS::Region"} and second["Region"] == {"Ref": "ReplicaRegion2"}
        assert third["Fn::If"][0] == "ThreeRegions" and third["Fn::If"][1]["Region"] == {"Ref": "ReplicaRegion3"}
        for replica in (first, second, third["Fn::If"][1]):
            assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
            keys[(name, json.dumps(replica["Region"]))] = replica["SSESpecification"]["KMSMasterKeyId"]
    # each region's replica under its own region's key: this stack's, or the one given for that region
    expected = {"AWS::Region": {"Fn::GetAtt": ["TableKey", "Arn"]}, "ReplicaRegion2": {"Ref": "ReplicaKeyArn2"},
                "ReplicaRegion3": {"Ref": "ReplicaKeyArn3"}}
    assert keys == {(name, json.dumps({"Ref": region})): key for name in tables for region, key in expected.items()}
    (key,) = _resources(glob, "AWS::KMS::Key").values()
    assert key["EnableKeyRotation"] is True
    alarms = _resources(glob, "AWS::CloudWatch::Alarm").values()
    lag = {(a["Dimensions"][0]["Value"]["Fn::Sub"], a["Dimensions"][1]["Value"]["Ref"]) for a in alarms
           if a.get("MetricName") == "ReplicationLatency"}
    assert lag == {(t, r) for t in tables for r in ("ReplicaRegion2", "ReplicaRegion3")}
    throttled = [a for a in alarms if "Metrics" in a]
    watched = {(m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::Sub"])
               for a in throttled for m in a["Metrics"] if "MetricStat" in m}
    assert watched == {(m, t) for m in ("ReadThrottleEvents", "WriteThrottleEvents") for t in tables}
    # where the global tables stack holds them, a region's targets stack makes no tables of its own
    assert all(r.get("Condition") == "OwnTables" for r in targets["Resources"].values()
               if r["Type"] == "AWS::DynamoDB::Table")


def test_the_fleets_workers_run_their_instances_region_in_a_global_tables_run():
    fleet = _load("fleet.yaml")
    worker = json.dumps(fleet["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"])
    assert "-- --home-region ${AWS::Region}" in worker  # (bootstrap.sh hands what follows -- to Locust)
    assert "--home-region" not in json.dumps(fleet["Resources"]["Master"]["Properties"]["UserData"])


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


# what moto's CloudFormation does not model (it skips them with a warning), and the outputs that read
# attributes it does not model (RDS endpoint and managed secret, ElastiCache endpoints)
MOTO_SKIPS = {"CacheSubnetGroup", "CacheParameters", "RedisAuthSecret", "Redis"}
MOTO_UNRESOLVED_OUTPUTS = {"MysqlUrl", "DatabaseSecretArn", "RedisUrl", "RedisReaderUrl", "RedisSecretArn"}
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto_aws():
    """A moto server process on loopback (the suite's own emulator serves every moto service)."""
    import boto3

    from cacheswarm.emulator import MotoServer

    with MotoServer() as emu:
        yield emu.endpoint, lambda service: boto3.client(service, endpoint_url=emu.endpoint, region_name="us-east-1",
                                                         aws_access_key_id="testing", aws_secret_access_key="testing")


def _deploy(cfn, name, template, params, drop_outputs=()):
    import time

    body = json.loads(json.dumps(template))
    for key in drop_outputs:
        body["Outputs"].pop(key)
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    for _ in range(60):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    created = {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
               if r["LogicalResourceId"]}
    return stack, created, {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_both_stacks_deploy_into_moto_and_cacheswarm_runs_on_their_tables(moto_aws, tmp_path):
    endpoint, client = moto_aws
    ec2, cfn = client("ec2"), client("cloudformation")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    net = {"VpcId": vpc, "SubnetIds": ",".join(subnets), "Namespace": "cswdeploy"}
    targets = _load("targets.yaml")
    _stack, created, outputs = _deploy(cfn, "csw-targets", targets, net, MOTO_UNRESOLVED_OUTPUTS)
    assert created == set(targets["Resources"]) - MOTO_SKIPS
    lg = outputs["LoadGeneratorSecurityGroupId"]
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
              ["SecurityGroups"]}
    for port in (3306, 6379):
        (rule,) = [r for g in groups.values() for r in g["IpPermissions"] if r.get("FromPort") == port]
        assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [lg] and not rule["IpRanges"]
    (db,) = client("rds").describe_db_instances()["DBInstances"]
    assert db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    # the tables are ones cacheswarm seeds and runs on (names, keys, GSI1)
    env = {**AWS_ENV, "PYTHONUNBUFFERED": "1"}
    seed = subprocess.run([str(BIN / "cacheswarm"), "seed", "restaurants", "--backend", "dynamodb",
                           "--dynamodb-endpoint", endpoint, "--namespace", "cswdeploy", "--restaurants", "20",
                           "--reviews-per-restaurant", "5", "--allow-existing-table"],
                          capture_output=True, text=True, timeout=120, env={**__import__("os").environ, **env})
    assert seed.returncode == 0, seed.stderr[-2000:]
    run = subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--headless", "-u", "2",
                          "--backend", "dynamodb", "--dataset", "restaurants", "--dynamodb-endpoint", endpoint,
                          "--namespace", "cswdeploy", "--allow-existing-table", "--strategies", "db-only",
                          "--phase-time", "3s", "--warmup", "1s", "--report-dir", str(tmp_path / "r"), "--only-summary"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**__import__("os").environ, **env})
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(next((tmp_path / "r").iterdir()).joinpath("comparison.json").read_text())
    assert doc["summary"][0]["count"] > 0 and doc["summary"][0]["errors"] == 0

    fleet = _load("fleet.yaml")
    params = {"VpcId": vpc, "SubnetIds": ",".join(subnets), "LoadGeneratorSecurityGroupId": lg, "SourceRef": "v0.0.0",
              "MysqlUrl": "mysql://admin@db.example:3306/cacheswarm", "RedisUrl": "rediss://cache.example:6379/0",
              "DatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
              "Namespace": "cswdeploy", "WorkerCount": "3"}
    _stack, created, outputs = _deploy(cfn, "csw-fleet", fleet, params)
    conditional = {"WebUiIngress", "RedisSecretPolicy"}  # off by default / without a Redis secret
    assert created == set(fleet["Resources"]) - conditional
    (asg,) = client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert asg["DesiredCapacity"] == 3 and asg["MinSize"] == asg["MaxSize"] == 3
    master_sg = [g for g in ec2.describe_security_groups()["SecurityGroups"]
                 if g["Description"].startswith("cacheswarm master")][0]
    assert [(r["FromPort"], bool(r["UserIdGroupPairs"]), r["IpRanges"]) for r in master_sg["IpPermissions"]] == \
        [(5557, True, [])]
    s3 = client("s3")
    # (moto's CloudFormation does not apply the bucket's public access block: checked in the template above)
    assert s3.get_bucket_encryption(Bucket=outputs["ReportBucket"])["ServerSideEncryptionConfiguration"]["Rules"]
    # the report upload the master's timer runs, into the stack's bucket
    (tmp_path / "reports" / "compare-1").mkdir(parents=True)
    (tmp_path / "reports" / "compare-1" / "comparison.json").write_text("{}")
    up = subprocess.run([str(BIN / "python"), str(DEPLOY / "upload_reports.py"), str(tmp_path / "reports"),
                         outputs["ReportBucket"], "cswdeploy"], capture_output=True, text=True, timeout=60,
                        env={**__import__("os").environ, **AWS_ENV, "AWS_ENDPOINT_URL": endpoint})
    assert up.returncode == 0 and "uploaded 1 files" in up.stdout, up.stderr[-2000:]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=outputs["ReportBucket"])["Contents"]]
    assert keys == ["cswdeploy/compare-1/comparison.json"]
