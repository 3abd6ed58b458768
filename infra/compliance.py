"""Opt-in prerequisites of the control: a multi-region trail, and an AWS Config recorder for security groups.

Off by default: most accounts have both already (an organization trail, a Config recorder from Control Tower), and
AWS allows one Config recorder per region. `sgwatch audit` says which an account lacks.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct
from sgwatch.audit import SECURITY_GROUP_TYPE


def _bucket(scope: Construct, construct_id: str, *, expiration_days: int, access_logs: s3.IBucket | None) -> s3.Bucket:
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        lifecycle_rules=[
            s3.LifecycleRule(expiration=Duration.days(expiration_days), noncurrent_version_expiration=Duration.days(30))
        ],
        removal_policy=RemovalPolicy.RETAIN,  # evidence outlives the stack; delete it by hand when it may go
    )


def _logical_id(bucket: s3.IBucket) -> str:
    stack = Stack.of(bucket)
    resource = bucket.node.default_child
    assert isinstance(resource, s3.CfnBucket)
    return str(stack.resolve(stack.get_logical_id(resource)))


class ComplianceLogs(Construct):
    """The encrypted, private bucket that the trail and the Config delivery channel write to, with its access log."""

    def __init__(self, scope: Construct, construct_id: str, *, expiration_days: int) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = _bucket(self, "AccessLogs", expiration_days=expiration_days, access_logs=None)
        Validations.of(self.access_logs).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="this bucket receives the server access logs of the compliance bucket; logging it would loop",
            )
        )
        self.bucket = _bucket(self, "Bucket", expiration_days=expiration_days, access_logs=self.access_logs)


class AuditTrail(Construct):
    """A multi-region trail for management events (reads and writes), with log file validation."""

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=bucket,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_file_validation=True,
            management_events=cloudtrail.ReadWriteType.ALL,
            s3_key_prefix="cloudtrail",
        )


class SecurityGroupRecorder(Construct):
    """An AWS Config recorder for AWS::EC2::SecurityGroup, and its delivery channel. One recorder per region: deploy
    this only where `sgwatch audit` finds none."""

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("config.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWS_ConfigRole")],
            description="AWS Config: read security-group configuration, deliver to the compliance bucket",
        )
        bucket.grant_put(self.role, "config/*")
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetBucketAcl"], resources=[bucket.bucket_arn]))
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWS_ConfigRole]",
                reason="AWS_ConfigRole is the policy AWS maintains for Config to read resource configurations",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Action::s3:Abort*]",
                reason="grant_put's multipart-upload actions, scoped to the config/ prefix of the compliance bucket",
            ),
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::<{_logical_id(bucket)}.Arn>/config/*]",
                reason="Config writes one object per delivery under config/ in the compliance bucket",
            ),
        )
        self.recorder = config.CfnConfigurationRecorder(
            self,
            "Recorder",
            role_arn=self.role.role_arn,
            recording_group=config.CfnConfigurationRecorder.RecordingGroupProperty(
                all_supported=False,
                include_global_resource_types=False,
                resource_types=[SECURITY_GROUP_TYPE],
                recording_strategy=config.CfnConfigurationRecorder.RecordingStrategyProperty(
                    use_only="INCLUSION_BY_RESOURCE_TYPES"
                ),
            ),
        )
        self.channel = config.CfnDeliveryChannel(
            self, "DeliveryChannel", s3_bucket_name=bucket.bucket_name, s3_key_prefix="config"
        )
        self.channel.add_resource_dependency(self.recorder)
