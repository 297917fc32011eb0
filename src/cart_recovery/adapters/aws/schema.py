"""The DynamoDB tables as CreateTable requests: the same shapes the SAM template declares, for
DynamoDB Local, tests and a store's first local run."""

from __future__ import annotations

from typing import Any

from cart_recovery.adapters.aws.dynamo import DAY_INDEX, EMAIL_INDEX, RECIPIENT_INDEX, Tables

TTL_ATTRIBUTE = "expires_at"


def table_requests(tables: Tables) -> list[dict[str, Any]]:
    """CreateTable parameters for the six tables (on-demand)."""

    def attrs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
        return [{"AttributeName": n, "AttributeType": t} for n, t in pairs]

    everything = {"ProjectionType": "ALL"}
    return [
        {
            "TableName": tables.state,
            "KeySchema": [{"AttributeName": "cart_id", "KeyType": "HASH"}],
            "AttributeDefinitions": attrs(
                ("cart_id", "S"), ("email", "S"), ("created_day", "S"), ("created_at", "S")
            ),
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": EMAIL_INDEX,
                    "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                    "Projection": everything,
                },
                {
                    "IndexName": DAY_INDEX,
                    "KeySchema": [
                        {"AttributeName": "created_day", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": everything,
                },
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
        {
            "TableName": tables.sends,
            "KeySchema": [
                {"AttributeName": "cart_id", "KeyType": "HASH"},
                {"AttributeName": "step", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": attrs(
                ("cart_id", "S"), ("step", "N"), ("recipient", "S"), ("sent_at", "S")
            ),
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": RECIPIENT_INDEX,
                    "KeySchema": [
                        {"AttributeName": "recipient", "KeyType": "HASH"},
                        {"AttributeName": "sent_at", "KeyType": "RANGE"},
                    ],
                    "Projection": everything,
                }
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
        {
            "TableName": tables.audit,
            "KeySchema": [
                {"AttributeName": "cart_id", "KeyType": "HASH"},
                {"AttributeName": "ts", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": attrs(("cart_id", "S"), ("ts", "S")),
            "BillingMode": "PAY_PER_REQUEST",
        },
        {
            "TableName": tables.unsub,
            "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
            "AttributeDefinitions": attrs(("email", "S")),
            "BillingMode": "PAY_PER_REQUEST",
        },
        {
            "TableName": tables.event_ids,
            "KeySchema": [
                {"AttributeName": "cart_id", "KeyType": "HASH"},
                {"AttributeName": "event_id", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": attrs(("cart_id", "S"), ("event_id", "S")),
            "BillingMode": "PAY_PER_REQUEST",
        },
        owners_table(tables.owners),
    ]


def owners_table(name: str) -> dict[str, Any]:
    """The owners' logins, sessions and failed logins (``dynamo/accounts.py``): one key pair."""
    return {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def create_tables(client: Any, tables: Tables) -> None:
    """Create the six tables (and the TTL of the event ids and of the owners' sessions and
    failed logins) and wait until they are active."""
    for request in table_requests(tables):
        client.create_table(**request)
    waiter = client.get_waiter("table_exists")
    for request in table_requests(tables):
        waiter.wait(TableName=request["TableName"], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=tables.event_ids,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    client.update_time_to_live(
        TableName=tables.owners,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


def delete_tables(client: Any, tables: Tables) -> None:
    for request in table_requests(tables):
        client.delete_table(TableName=request["TableName"])
