"""Domain errors. Each has a fixed message that is safe to show to a client.

    ServiceError
    ├── InvalidInput ............... 400  (message names the field)
    │   ├── InvalidJSON
    │   └── BodyNotAnObject
    ├── PayloadTooLarge ............ 413
    ├── Unauthenticated ............ 401
    │   └── AmbiguousCredentials
    ├── RateLimited ................ 429  (retry_after)
    ├── AccessDenied ............... 403
    │   ├── AccountAccessDenied
    │   └── ArtistAccessDenied
    ├── NotFound ................... 404
    │   └── ChatNotFound
    ├── Conflict ................... 409
    │   └── ChatAlreadyExists
    ├── ServiceUnavailable ......... 503  (retry_after)
    └── InternalError .............. 500
        └── ChatCreationFailed

Each edge maps these classes (looked up along the class hierarchy) to its own status or code.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    default_message: ClassVar[str] = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidInput(ServiceError):
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


class RateLimited(ServiceError):
    default_message = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class AccessDenied(ServiceError):
    default_message = "Access denied"


class AccountAccessDenied(AccessDenied):
    default_message = "Access denied to specified accountId"


class ArtistAccessDenied(AccessDenied):
    default_message = "Access denied to specified artistId"


class NotFound(ServiceError):
    default_message = "Not found"


class ChatNotFound(NotFound):
    default_message = "Chat not found"


class Conflict(ServiceError):
    default_message = "Conflict"


class ChatAlreadyExists(Conflict):
    default_message = "chatId already exists"


class ServiceUnavailable(ServiceError):
    default_message = "Service temporarily unavailable"
    retry_after = 5


class InternalError(ServiceError):
    default_message = "Internal server error"


class ChatCreationFailed(InternalError):
    default_message = "Failed to create chat"
