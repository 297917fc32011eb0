"""The AWS runtime's adapters, behind the same ports as the embedded runtime.

* ``dynamo.DynamoStore``: the ``CartStore`` on DynamoDB (``cr-state``, ``cr-sends``, ``cr-audit``,
  ``cr-unsub``, ``cr-event-ids``), applying timer changes through a ``TimerSink``.
* ``scheduler.SchedulerTimers``: one EventBridge Scheduler one-off per pending wake-up.
* ``messaging``: the ``cr-events`` queue, the hand-off to the sender on the default bus, SES.
* ``docs.S3Docs``: the rules and voice docs from the versioned ``cr-rules-source`` bucket.
* ``config``: settings from SSM Parameter Store and secrets from Secrets Manager.

boto3 is an optional dependency: ``pip install 'cart-recovery[aws]'``. Every adapter takes a
boto3 client built by the caller (``aws_bootstrap``); none opens a connection when it is made.
"""
