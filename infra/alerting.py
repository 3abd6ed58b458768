"""Where alerts and alarms go: SNS topics encrypted with a customer-managed key, email subscriptions."""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from sgwatch.core import names
from sgwatch.core.severity import Severity


class Alerting(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, alert_email: str, operations_email: str, min_severity: Severity
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True, description="sgwatch: encrypts the alert and operations topics"
        )
        # CloudWatch alarms publish to the operations topic, so the service must be able to use the key: for the
        # alarms of this account only (aws:SourceAccount), not as a deputy of another account's alarms.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.topic = sns.Topic(self, "Alerts", display_name="sgwatch alerts", master_key=self.key, enforce_ssl=True)
        self.operations = sns.Topic(
            self, "Operations", display_name="sgwatch operations", master_key=self.key, enforce_ssl=True
        )
        if alert_email:
            self.topic.add_subscription(
                subscriptions.EmailSubscription(
                    alert_email,
                    filter_policy={
                        names.ATTRIBUTE_SEVERITY_RANK: sns.SubscriptionFilter.numeric_filter(
                            greater_than_or_equal_to=int(min_severity)
                        )
                    },
                )
            )
        if operations_email:
            self.operations.add_subscription(subscriptions.EmailSubscription(operations_email))
        CfnOutput(
            self,
            "AlertTopicArn",
            value=self.topic.topic_arn,
            description="subscribe tickets, a SIEM or a function: they get each alert's JSON document, email the text",
        )
        CfnOutput(self, "OperationsTopicArn", value=self.operations.topic_arn, description="sgwatch's own alarms")
