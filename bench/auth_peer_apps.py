# ruff: noqa: S105, S106, S108, ARG001, TC003 - a benchmark peer app, fixed secrets and paths
"""fastapi-users' JWT backend for the auth benchmark (runs in its own venv).

``uvicorn auth_peer_apps:fastapi_users_jwt --factory`` serves ``GET /ping`` behind
``fastapi_users.current_user(active=True)`` with the documented setup: ``BearerTransport``
+ ``JWTStrategy`` (HS256, 15 min) and the SQLAlchemy user database on SQLite
(``$BENCH_AUTH_DIR/users.db``). At start-up it registers a user, logs in through the
strategy and writes the token to ``$BENCH_TOKEN_FILE``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

SECRET = "Vq3x9Zr-Lm2Kp8Tn4Wc7Yb1Hd6Fg0Js5-bench-only"


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


def fastapi_users_jwt() -> FastAPI:
    workdir = Path(os.environ.get("BENCH_AUTH_DIR", "/tmp/svc-auth-bench-peer"))
    workdir.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(f"sqlite+aiosqlite:///{workdir / 'users.db'}")
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_user_db() -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
        async with sessions() as session:
            yield SQLAlchemyUserDatabase(session, User)

    async def get_user_manager(db: Any = Depends(get_user_db)) -> AsyncIterator[UserManager]:  # noqa: B008
        yield UserManager(db)

    def get_strategy() -> JWTStrategy[User, uuid.UUID]:
        return JWTStrategy(secret=SECRET, lifetime_seconds=900)

    backend = AuthenticationBackend("jwt", BearerTransport(tokenUrl="auth/jwt/login"), get_strategy)
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
    current_user = users.current_user(active=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with sessions() as session:
            manager = UserManager(SQLAlchemyUserDatabase(session, User))
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            user = await manager.create(UserCreate(email=email, password="granite harbour lamp"))
            token = await get_strategy().write_token(user)
        token_file = os.environ.get("BENCH_TOKEN_FILE")
        if token_file:
            Path(token_file).write_text(token)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(users.get_auth_router(backend), prefix="/auth/jwt")

    @app.get("/ping", response_model=None)
    async def ping(user: User = Depends(current_user)) -> dict[str, bool]:  # noqa: B008
        return {"ok": True}

    return app
