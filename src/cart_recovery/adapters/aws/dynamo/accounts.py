"""The owners' logins (the ``OwnerAccounts`` port) in the ``cr-owners`` table (``pk`` + ``sk``):

==============================  =========  ==========================================
``pk``                          ``sk``     what
==============================  =========  ==========================================
``owner#<name, casefolded>``    account    ``name``, ``email``, ``created``,
                                           ``password_hash`` or ``token_hash``,
                                           ``last_login``
``email#<email>``               claim      ``name``: the email is taken (one owner each)
``token#<sha256>``              claim      ``name``: the personal token's owner
``sessions#<owner, casefolded>``  epoch    ``epoch``: random; a session is valid while its
                                           owner's epoch is the one it was made under
``session#<id sha256>``         session    ``owner``, ``created``, ``expires``, ``epoch``
``fail#<key>``                  time#rand  one failed login
==============================  =========  ==========================================

Revoking every session of an owner replaces the epoch; removing the owner deletes it (and a
new owner of the same name starts with a fresh one). Sessions and failures carry the TTL
attribute ``expires_at`` so DynamoDB deletes them once they no longer count.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from cart_recovery.adapters.aws.dynamo.client import Client
from cart_recovery.adapters.aws.dynamo.items import from_iso, iso, plain, to_item
from cart_recovery.adapters.aws.errors import error_code
from cart_recovery.domain.owners import LOGIN_WINDOW, OwnerAccount, OwnerSession
from cart_recovery.ports import OwnerExists

ACCOUNT = "account"


def _owner_pk(name: str) -> str:
    return "owner#" + name.casefold()


def _epoch_key(owner: str) -> dict[str, str]:
    return {"pk": "sessions#" + owner.casefold(), "sk": "epoch"}


def _account_of(item: dict[str, Any]) -> OwnerAccount:
    v = plain(item)
    return OwnerAccount(
        name=v["name"],
        email=v["email"],
        created=from_iso(v["created"]),
        password_hash=v.get("password_hash", ""),
        token_hash=v.get("token_hash", ""),
        last_login=from_iso(v["last_login"]) if v.get("last_login") else None,
    )


class Accounts(Client):
    @property
    def _owners_table(self) -> str:
        return self.tables.owners

    def _ttl(self, seconds: float) -> int:
        """The TTL attribute of an item that counts for ``seconds`` more: on the wall clock,
        which DynamoDB's sweeper reads (the service's clock may be another; the item's own
        times decide whether it still counts)."""
        return int(self._wall_clock() + seconds) + 1

    def _put(self, values: dict[str, Any], condition: bool = True) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": self._owners_table, "Item": to_item(values)}
        if condition:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": request}

    def add_owner(self, account: OwnerAccount) -> None:
        values = {
            "pk": _owner_pk(account.name),
            "sk": ACCOUNT,
            "name": account.name,
            "email": account.email,
            "created": iso(account.created),
            "password_hash": account.password_hash or None,
            "token_hash": account.token_hash or None,
        }
        ops = [
            self._put(values),
            self._put({"pk": "email#" + account.email, "sk": "claim", "name": account.name}),
        ]
        fields = ["name", "email"]
        if account.token_hash:
            claim = {"pk": "token#" + account.token_hash, "sk": "claim", "name": account.name}
            ops.append(self._put(claim))
            fields.append("token")
        failed = self._write(ops)
        if failed:
            raise OwnerExists(fields[failed[0]])

    def owners(self) -> list[OwnerAccount]:
        items = self._scan(
            TableName=self._owners_table,
            FilterExpression="sk = :a",
            ExpressionAttributeValues={":a": {"S": ACCOUNT}},
            ConsistentRead=True,
        )
        return sorted((_account_of(i) for i in items), key=lambda a: a.name.casefold())

    def owner_named(self, name: str) -> OwnerAccount | None:
        item = self._get(self._owners_table, {"pk": _owner_pk(name), "sk": ACCOUNT})
        return None if item is None else _account_of(item)

    def _claimed(self, pk: str) -> OwnerAccount | None:
        claim = self._get(self._owners_table, {"pk": pk, "sk": "claim"})
        return None if claim is None else self.owner_named(plain(claim)["name"])

    def owner_by_email(self, email: str) -> OwnerAccount | None:
        return self._claimed("email#" + email)

    def owner_by_token(self, token_hash: str) -> OwnerAccount | None:
        return self._claimed("token#" + token_hash) if token_hash else None

    def remove_owner(self, name: str) -> bool:
        account = self.owner_named(name)
        if account is None:
            return False
        table = self._owners_table
        keys = [
            {"pk": _owner_pk(account.name), "sk": ACCOUNT},
            {"pk": "email#" + account.email, "sk": "claim"},
            _epoch_key(account.name),
        ]
        if account.token_hash:
            keys.append({"pk": "token#" + account.token_hash, "sk": "claim"})
        self._db.transact_write_items(
            TransactItems=[{"Delete": {"TableName": table, "Key": to_item(k)}} for k in keys]
        )
        return True

    def record_login(self, name: str, at: datetime) -> None:
        try:
            self._db.update_item(
                TableName=self._owners_table,
                Key=to_item({"pk": _owner_pk(name), "sk": ACCOUNT}),
                UpdateExpression="SET last_login = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"S": iso(at)}},
            )
        except self._client_error as e:
            if error_code(e) != "ConditionalCheckFailedException":
                raise

    def note_failed_login(self, key: str, at: datetime) -> None:
        values = {
            "pk": "fail#" + key,
            "sk": f"{iso(at)}#{secrets.token_hex(6)}",
            "expires_at": self._ttl(LOGIN_WINDOW.total_seconds()),
        }
        self._db.put_item(**self._put(values, condition=False)["Put"])

    def failed_logins(self, key: str, since: datetime) -> int:
        request: dict[str, Any] = {
            "TableName": self._owners_table,
            "KeyConditionExpression": "pk = :k AND sk > :s",
            "ExpressionAttributeValues": {
                ":k": {"S": "fail#" + key},
                ":s": {"S": iso(since) + "#~"},
            },
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        count = 0
        while True:
            page = self._db.query(**request)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _epoch(self, owner: str) -> str:
        """The owner's session epoch, made now when there is none."""
        answer = self._db.update_item(
            TableName=self._owners_table,
            Key=to_item(_epoch_key(owner)),
            UpdateExpression="SET epoch = if_not_exists(epoch, :e)",
            ExpressionAttributeValues={":e": {"S": secrets.token_hex(16)}},
            ReturnValues="ALL_NEW",
        )
        return str(answer["Attributes"]["epoch"]["S"])

    def create_session(self, session: OwnerSession) -> None:
        values = {
            "pk": "session#" + session.id_hash,
            "sk": "session",
            "owner": session.owner,
            "created": iso(session.created),
            "expires": iso(session.expires),
            "epoch": self._epoch(session.owner),
            "expires_at": self._ttl((session.expires - session.created).total_seconds()),
        }
        self._db.put_item(**self._put(values, condition=False)["Put"])

    def find_session(self, id_hash: str, now: datetime) -> OwnerSession | None:
        item = self._get(self._owners_table, {"pk": "session#" + id_hash, "sk": "session"})
        if item is None:
            return None
        v = plain(item)
        session = OwnerSession(id_hash, v["owner"], from_iso(v["created"]), from_iso(v["expires"]))
        if session.expires <= now:
            return None
        epoch = self._get(self._owners_table, _epoch_key(session.owner))
        if epoch is None or plain(epoch).get("epoch") != v["epoch"]:
            return None
        return session

    def revoke_session(self, id_hash: str) -> None:
        self._db.delete_item(
            TableName=self._owners_table,
            Key=to_item({"pk": "session#" + id_hash, "sk": "session"}),
        )

    def revoke_sessions(self, owner: str) -> None:
        self._db.update_item(
            TableName=self._owners_table,
            Key=to_item(_epoch_key(owner)),
            UpdateExpression="SET epoch = :e",
            ExpressionAttributeValues={":e": {"S": secrets.token_hex(16)}},
        )


__all__ = ["Accounts"]
