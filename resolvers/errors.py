"""Domain errors. Each has a fixed message that is safe to show to a client.

    ServiceError
    ├── InvalidInput ............... 400  (message names the field)
    │   ├── InvalidJSON
    │   └── BodyNotAnObject
    ├── PayloadTooLarge ............ 413
    ├── Unauthenticated ............ 401
    │   ├── AmbiguousCredentials
    │   └── InvalidToken ........... (an access token that fails verification)
    ├── RateLimited ................ 429  (retry_after)
    ├── AccessDenied ............... 403
    │   ├── AccountAccessDenied
    │   ├── ArtistAccessDenied
    │   ├── IdentityNotLinked
    │   ├── IdentityBlocked
    │   └── AssistantWriteDenied
    ├── NotFound ................... 404
    │   ├── ChatNotFound
    │   └── MessageNotFound
    ├── CursorExpired .............. 410
    ├── Conflict ................... 409
    │   ├── ChatAlreadyExists
    │   ├── MessageAlreadyExists
    │   ├── ReplyAlreadyStreaming
    │   ├── ChunkOutOfOrder
    │   ├── ChunkConflict
    │   ├── ReplyNotStreaming
    │   └── NoReplyStreaming
    ├── ServiceUnavailable ......... 503  (retry_after)
    └── InternalError .............. 500
        └── ChatCreationFailed

Each class carries its message and, where it has one, its Retry-After. Each edge maps these
classes (looked up along the class hierarchy) to its own status or code, in one table, and
renders every error through one function.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    default_message: ClassVar[str] = "Internal server error"
    # Seconds a client should wait before trying again; None where waiting does not help.
    retry_after: int | None = None

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidInput(ServiceError):
    """A field or parameter is invalid: raised with a message that names it."""

    default_message = "Invalid input"


class InvalidJSON(InvalidInput):
    default_message = "Invalid JSON body"


class BodyNotAnObject(InvalidInput):
    default_message = "Request body must be a JSON object"


class PayloadTooLarge(ServiceError):
    default_message = "Request body too large"


class Unauthenticated(ServiceError):
    default_message = "Unauthorized"


class AmbiguousCredentials(Unauthenticated):
    default_message = "Exactly one of x-api-key or Authorization must be provided"


class InvalidToken(Unauthenticated):
    """Every reason an access token is refused gives this one answer; `reason` is for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class RateLimited(ServiceError):
    default_message = "Too many requests"
    retry_after = 1  # each refusal says how long its key's window has left

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class AccessDenied(ServiceError):
    default_message = "Access denied"


class AccountAccessDenied(AccessDenied):
    default_message = "Access denied to specified accountId"


class ArtistAccessDenied(AccessDenied):
    default_message = "Access denied to specified artistId"


class IdentityNotLinked(AccessDenied):
    default_message = "No account is linked to this identity"


class IdentityBlocked(AccessDenied):
    default_message = "This identity is blocked"


class AssistantWriteDenied(AccessDenied):
    default_message = "Only an API key may write the assistant's messages"


class NotFound(ServiceError):
    default_message = "Not found"


class ChatNotFound(NotFound):
    default_message = "Chat not found"


class MessageNotFound(NotFound):
    default_message = "Message not found"


class CursorExpired(ServiceError):
    """A stream's cursor that is not a live cursor of its chat: the client reloads."""

    default_message = "Cursor expired"


class Conflict(ServiceError):
    default_message = "Conflict"


class ChatAlreadyExists(Conflict):
    default_message = "chatId already exists"


class MessageAlreadyExists(Conflict):
    default_message = "messageId already exists"


class ReplyAlreadyStreaming(Conflict):
    default_message = "A reply is already streaming in this chat"


class ChunkOutOfOrder(Conflict):
    default_message = "Reply chunk out of order"


class ChunkConflict(Conflict):
    default_message = "Reply chunk conflicts with the stored one"


class ReplyNotStreaming(Conflict):
    default_message = "The reply is not streaming"


class NoReplyStreaming(Conflict):
    default_message = "No reply is streaming in this chat"


class ServiceUnavailable(ServiceError):
    default_message = "Service temporarily unavailable"
    retry_after = 5


class InternalError(ServiceError):
    default_message = "Internal server error"


class ChatCreationFailed(InternalError):
    default_message = "Failed to create chat"


# Families never raised with their own default message: only their members' messages reach users.
FAMILIES: frozenset[type[ServiceError]] = frozenset(
    {InvalidInput, AccessDenied, NotFound, Conflict}
)


def error_classes() -> list[type[ServiceError]]:
    """Every error class, the base included, parents before children."""
    found: list[type[ServiceError]] = []
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
