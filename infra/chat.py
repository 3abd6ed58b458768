"""Chat: a topic the function sends its chat notifications to, and the channel configurations of Amazon Q Developer in
chat applications (formerly AWS Chatbot) that show them in Slack or Microsoft Teams. Notifications only: the
channel's role has no permission at all and its guardrail is read-only, so nothing can be done from the chat."""

from __future__ import annotations

from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import SlackChannel, TeamsChannel

#: The guardrail caps what any chat user could do through the channel; the role itself grants nothing.
GUARDRAIL = "ReadOnlyAccess"


class Chat(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        name: str,
        slack: SlackChannel | None,
        teams: TeamsChannel | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="sgwatch chat", master_key=key, enforce_ssl=True)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description="sgwatch chat channel: shows notifications, grants nothing",
        )
        guardrail = iam.ManagedPolicy.from_aws_managed_policy_name(GUARDRAIL)
        if slack is not None:
            chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                slack_channel_configuration_name=f"{name}-slack"[:128],
                slack_workspace_id=slack.workspace_id,
                slack_channel_id=slack.channel_id,
                notification_topics=[self.topic],
                role=self.role,
                guardrail_policies=[guardrail],
                user_role_required=False,
            )
        if teams is not None:
            chatbot.CfnMicrosoftTeamsChannelConfiguration(
                self,
                "Teams",
                configuration_name=f"{name}-teams"[:128],
                iam_role_arn=self.role.role_arn,
                team_id=teams.team_id,
                teams_channel_id=teams.channel_id,
                teams_tenant_id=teams.tenant_id,
                sns_topic_arns=[self.topic.topic_arn],
                guardrail_policies=[guardrail.managed_policy_arn],
                user_role_required=False,
            )
