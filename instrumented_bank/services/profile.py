"""profile: display names and profile pictures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from instrumented_bank.seed import customers
from instrumented_bank.services import Service, ServiceContext

#: Pictures larger than this are refused (decoded size).
MAX_PICTURE_BYTES = 512 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY, display_name TEXT NOT NULL, picture BLOB,
    picture_sha256 TEXT, content_type TEXT, updated_at REAL
);
"""


class Picture(BaseModel):
    content_type: str = Field(pattern="^image/(png|jpeg|webp)$")
    data_base64: str


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    with db.untraced() as connection:
        connection.executemany(
            "INSERT OR IGNORE INTO profiles (user_id, display_name) VALUES (?, ?)",
            [(c.user_id, c.name) for c in customers(ctx.settings.accounts)],
        )
    router = APIRouter()

    def load(connection, user_id: str) -> dict:
        row = connection.execute(
            "SELECT user_id, display_name, picture_sha256 FROM profiles WHERE user_id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            raise HTTPException(404, f"no profile for {user_id}")
        url = f"/profiles/{row[0]}/picture/{row[2]}" if row[2] else None
        return {
            "user_id": row[0],
            "display_name": row[1],
            "picture_sha256": row[2],
            "picture_url": url,
        }

    @router.get("/profiles/{user_id}")
    def get_profile(user_id: str) -> dict:
        ctx.work()
        with db.connect() as connection:
            return load(connection, user_id)

    @router.put("/profiles/{user_id}/picture")
    def set_picture(user_id: str, picture: Picture) -> dict:
        ctx.work()
        try:
            data = base64.b64decode(picture.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPException(422, "data_base64 is not valid base64") from None
        if not data or len(data) > MAX_PICTURE_BYTES:
            raise HTTPException(
                422, f"a picture must be 1 to {MAX_PICTURE_BYTES} bytes, not {len(data)}"
            )
        digest = hashlib.sha256(data).hexdigest()
        with db.transaction() as connection:
            load(connection, user_id)
            connection.execute(
                "UPDATE profiles SET picture = ?, picture_sha256 = ?, content_type = ?,"
                " updated_at = ?"
                " WHERE user_id = ?",
                (data, digest, picture.content_type, time.time(), user_id),
            )
            return load(connection, user_id) | {"size": len(data)}

    return Service(router)
