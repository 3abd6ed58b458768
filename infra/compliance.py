"""Opt-in prerequisites of the control: a multi-region trail, and an AWS Config recorder for security groups.

Off by default: most accounts have both already (an organization trail, a Config recorder from Control Tower), and
AWS allows one Config recorder per region. `sgwatch audit` says which an account lacks.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from sgwatch.core.names import SECURITY_GROUP_TYPE


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


CLOUDTRAIL_PREFIX = "cloudtrail"


class AuditTrail(Construct):
    """A multi-region trail for management events (reads and writes), with log file validation.

    CloudTrail may use the bucket (and the key) only for this trail of this account: every grant to the service
    carries aws:SourceArn (the trail, known by its name, so no reference cycle); the bucket's carry aws:SourceAccount
    too. The trail's log files are encrypted with a customer-managed key unless `encrypt` is off ($1 a month).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.Bucket, trail_name: str, encrypt: bool
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        cloudtrail_service = iam.ServicePrincipal("cloudtrail.amazonaws.com")
        self.trail_arn = stack.format_arn(service="cloudtrail", resource="trail", resource_name=trail_name)
        this_trail = {"aws:SourceArn": self.trail_arn, "aws:SourceAccount": stack.account}
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailAclCheck",
                principals=[cloudtrail_service],
                actions=["s3:GetBucketAcl"],
                resources=[bucket.bucket_arn],
                conditions={"StringEquals": this_trail},
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailWrite",
                principals=[cloudtrail_service],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{CLOUDTRAIL_PREFIX}/AWSLogs/{stack.account}/*")],
                conditions={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **this_trail}},
            )
        )
        self.key: kms.Key | None = None
        if encrypt:
            self.key = kms.Key(
                self, "Key", enable_key_rotation=True, description="sgwatch: encrypts the audit trail's log files"
            )
            # The statements AWS documents for a trail's key, each narrowed to this trail by aws:SourceArn (which
            # names the account too; CloudTrail's guide advises it over aws:SourceAccount for keys). Reading the logs
            # takes kms:Decrypt, which the key's default statement leaves to the account's IAM policies.
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="CloudTrailEncrypt",
                    principals=[cloudtrail_service],
                    actions=["kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {"aws:SourceArn": self.trail_arn},
                        "StringLike": {
                            "kms:EncryptionContext:aws:cloudtrail:arn": stack.format_arn(
                                service="cloudtrail", region="*", resource="trail", resource_name="*"
                            )
                        },
                    },
                )
            )
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="CloudTrailDescribeKey",
                    principals=[cloudtrail_service],
                    actions=["kms:DescribeKey"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceArn": self.trail_arn}},
                )
            )
        # The L1 trail: the L2 adds bucket statements of its own, without these conditions.
        self.trail = cloudtrail.CfnTrail(
            self,
            "Trail",
            trail_name=trail_name,
            is_logging=True,
            s3_bucket_name=bucket.bucket_name,
            s3_key_prefix=CLOUDTRAIL_PREFIX,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            event_selectors=[
                cloudtrail.CfnTrail.EventSelectorProperty(include_management_events=True, read_write_type="All")
            ],
            kms_key_id=self.key.key_arn if self.key else None,
        )
        # CloudTrail checks the bucket policy (and the key policy) when the trail is created.
        bucket_policy = bucket.policy.node.default_child if bucket.policy else None
        assert isinstance(bucket_policy, s3.CfnBucketPolicy)
        self.trail.add_resource_dependency(bucket_policy)


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
