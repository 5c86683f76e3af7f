"""The Store's calls for Kubernetes objects kept whole (the server's namespaces, ConfigMaps, v1alpha3 forms),
kept apart from the rest of the Store."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pykatib.store._values import json_copy as _json_copy
from pykatib.store._values import now as _now
from pykatib.store.errors import KubeObjectExistsError
from pykatib.store.models import kube_objects
from pykatib.store.records import KubeObjectRecord


class ObjectCalls:
    """Mixed into Store: its calls for whole Kubernetes objects, on its connections and transactions."""

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _read(self) -> AbstractContextManager[Connection]: ...

        def _in_transaction(self) -> bool: ...

    def create_object(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> KubeObjectRecord:
        """Store a new object; KubeObjectExistsError when ``kind namespace/name`` exists."""
        now = _now()
        try:
            with self._write() as conn:
                result = conn.execute(
                    insert(kube_objects).values(
                        kind=kind, namespace=namespace, name=name, body=body, created_at=now, updated_at=now
                    )
                )
        except IntegrityError as error:
            if self._in_transaction():
                raise
            raise KubeObjectExistsError(f"{kind} {namespace}/{name} already exists") from error
        key = result.inserted_primary_key
        assert key is not None
        return KubeObjectRecord(key[0], kind, namespace, name, _json_copy(body), now, now)

    def replace_object(self, record_id: int, body: dict[str, Any]) -> None:
        """Replace an object's body; its updated_at moves."""
        with self._write() as conn:
            conn.execute(
                kube_objects.update().where(kube_objects.c.id == record_id).values(body=body, updated_at=_now())
            )

    def get_object(self, kind: str, namespace: str, name: str) -> KubeObjectRecord | None:
        c = kube_objects.c
        with self._read() as conn:
            row = conn.execute(
                select(kube_objects).where(c.kind == kind, c.namespace == namespace, c.name == name)
            ).first()
        return None if row is None else KubeObjectRecord(**row._mapping)

    def list_objects(self, kind: str, namespace: str | None = None) -> list[KubeObjectRecord]:
        """Objects of a kind (in one namespace if given), in creation order."""
        stmt = select(kube_objects).where(kube_objects.c.kind == kind).order_by(kube_objects.c.id)
        if namespace is not None:
            stmt = stmt.where(kube_objects.c.namespace == namespace)
        with self._read() as conn:
            return [KubeObjectRecord(**row._mapping) for row in conn.execute(stmt)]

    def delete_object(self, record_id: int) -> None:
        with self._write() as conn:
            conn.execute(delete(kube_objects).where(kube_objects.c.id == record_id))
