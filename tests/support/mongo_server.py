#!/usr/bin/env python3
"""A small MongoDB-compatible test server: mockupdb speaks the wire protocol, mongomock executes the commands.

CI cannot install a real `mongod`, so the storage crate's conformance suite runs against this emulator. The same
suite runs unchanged against a real `mongod` or Atlas through MONGODB_URI; this file only has to cover what the
crate's MongoDB backend (and the tests' own setup and cleanup) send.

Behaviour that matters to the Rust driver (`mongodb` 3.9):
* It answers the legacy OP_QUERY `isMaster` handshake and OP_MSG `hello`, as a standalone server with
  maxWireVersion 17 and sessions support, and no compression.
* Every failure becomes an error reply (`ok: 0`, `code`, `errmsg`): an exception that escaped would leave the
  client waiting for a reply forever.
* Duplicate keys are reported with code 11000: as a `writeErrors` entry for insert/update, as a command error for
  findAndModify, like a real server.
* Like a standalone server, it refuses transactions (`txnNumber`) with code 20.

mockupdb handles one request at a time (its connection threads share a lock), so mongomock, which is not
thread-safe, is never entered concurrently, and every single-document operation is atomic.

Usage: mongo_server.py [--port N] [--verbose]. Prints `PORT <n>` on stdout once it accepts connections.
"""

import argparse
import datetime
import itertools
import os
import signal
import sys
import threading
import traceback

import mockupdb
import mongomock
from bson.int64 import Int64
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

MAX_WIRE_VERSION = 17
DEFAULT_BATCH_SIZE = 101
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024

# Server error codes used below (same numbers as a real mongod).
BAD_VALUE = 2
FAILED_TO_PARSE = 9
ILLEGAL_OPERATION = 20
NAMESPACE_NOT_FOUND = 26
CURSOR_NOT_FOUND = 43
COMMAND_NOT_FOUND = 59
COMMAND_NOT_SUPPORTED = 115
DUPLICATE_KEY = 11000
UNKNOWN_ERROR = 8

CODE_NAMES = {
    BAD_VALUE: "BadValue",
    FAILED_TO_PARSE: "FailedToParse",
    ILLEGAL_OPERATION: "IllegalOperation",
    NAMESPACE_NOT_FOUND: "NamespaceNotFound",
    CURSOR_NOT_FOUND: "CursorNotFound",
    COMMAND_NOT_FOUND: "CommandNotFound",
    COMMAND_NOT_SUPPORTED: "CommandNotSupported",
    DUPLICATE_KEY: "DuplicateKey",
    UNKNOWN_ERROR: "UnknownError",
}


class CommandError(Exception):
    """A failure to report to the client as `{ok: 0, code, errmsg}`."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def error_reply(code, message):
    return {"ok": 0, "code": code, "codeName": CODE_NAMES.get(code, "Error"), "errmsg": message}


def write_error(index, error):
    """A `writeErrors` entry for a failed insert/update/delete statement."""
    code = DUPLICATE_KEY if isinstance(error, DuplicateKeyError) else (getattr(error, "code", None) or BAD_VALUE)
    message = str(error) or "write failed"
    if code == DUPLICATE_KEY and not message.startswith("E11000"):
        message = "E11000 duplicate key error: " + message
    return {"index": index, "code": code, "errmsg": message}


def is_operator_update(update):
    return isinstance(update, dict) and bool(update) and all(key.startswith("$") for key in update)


def sort_spec(sort):
    """A command's sort document as the list of (field, direction) pairs mongomock takes."""
    if not sort:
        return None
    return [(field, int(direction)) for field, direction in sort.items()]


class Emulator:
    def __init__(self, verbose=False):
        self.client = mongomock.MongoClient()
        self.verbose = verbose
        self.cursors = {}
        self.cursor_ids = itertools.count(1)
        self.connection_ids = itertools.count(1)
        self.handlers = {
            "hello": self.hello,
            "ismaster": self.hello,
            "ping": self.ok,
            "endsessions": self.ok,
            "buildinfo": self.build_info,
            "getparameter": self.ok,
            "insert": self.insert,
            "update": self.update,
            "delete": self.delete,
            "find": self.find,
            "getmore": self.get_more,
            "killcursors": self.kill_cursors,
            "findandmodify": self.find_and_modify,
            "aggregate": self.aggregate,
            "count": self.count,
            "distinct": self.distinct,
            "createindexes": self.create_indexes,
            "listindexes": self.list_indexes,
            "drop": self.drop,
            "dropdatabase": self.drop_database,
            "listcollections": self.list_collections,
            "listdatabases": self.list_databases,
        }

    # --- request dispatch ---

    def handle(self, request):
        """mockupdb autoresponder: always replies, whatever happens."""
        try:
            reply = self.execute(request)
        except CommandError as error:
            reply = error_reply(error.code, error.message)
        except DuplicateKeyError as error:
            reply = error_reply(DUPLICATE_KEY, "E11000 duplicate key error: %s" % error)
        except OperationFailure as error:
            reply = error_reply(error.code or BAD_VALUE, str(error))
        except NotImplementedError as error:
            reply = error_reply(COMMAND_NOT_SUPPORTED, "not supported by the test server: %s" % error)
        except Exception as error:  # noqa: BLE001 - any failure must become a reply, or the client hangs
            traceback.print_exc(file=sys.stderr)
            reply = error_reply(UNKNOWN_ERROR, "%s: %s" % (type(error).__name__, error))
        try:
            request.replies(reply)
        except Exception:  # noqa: BLE001 - the client went away; nothing left to answer
            traceback.print_exc(file=sys.stderr)
        return True

    def execute(self, request):
        document = request.doc
        if not document:
            raise CommandError(FAILED_TO_PARSE, "empty command")
        name = next(iter(document))
        if self.verbose:
            print("command %s" % name, file=sys.stderr, flush=True)
        if "txnNumber" in document or name.lower() in ("committransaction", "aborttransaction"):
            raise CommandError(
                ILLEGAL_OPERATION, "Transaction numbers are only allowed on a replica set member or mongos"
            )
        handler = self.handlers.get(name.lower())
        if handler is None:
            raise CommandError(COMMAND_NOT_FOUND, "no such command: '%s'" % name)
        return handler(request, document)

    def database(self, request, document):
        name = document.get("$db") or request.namespace.split(".", 1)[0]
        return self.client[name]

    def collection(self, request, document):
        collection_name = next(iter(document.values()))
        if not isinstance(collection_name, str):
            raise CommandError(BAD_VALUE, "collection name must be a string")
        return self.database(request, document)[collection_name]

    # --- handshake and trivial commands ---

    def hello(self, request, document):
        return {
            "helloOk": True,
            "ismaster": True,
            "isWritablePrimary": True,
            "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
            "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000,
            "localTime": datetime.datetime.now(datetime.timezone.utc),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": next(self.connection_ids),
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        }

    def ok(self, request, document):
        return {}

    def build_info(self, request, document):
        return {"version": "6.0.0-emulator", "versionArray": [6, 0, 0, 0], "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE}

    # --- writes ---

    def insert(self, request, document):
        collection = self.collection(request, document)
        ordered = document.get("ordered", True)
        inserted, errors = 0, []
        for index, item in enumerate(document.get("documents", [])):
            try:
                collection.insert_one(item)
                inserted += 1
            except (DuplicateKeyError, OperationFailure) as error:
                errors.append(write_error(index, error))
                if ordered:
                    break
        return self.write_reply(inserted, errors)

    def update(self, request, document):
        collection = self.collection(request, document)
        ordered = document.get("ordered", True)
        matched, modified, upserted, errors = 0, 0, [], []
        for index, statement in enumerate(document.get("updates", [])):
            try:
                query, change = statement.get("q", {}), statement.get("u")
                upsert = bool(statement.get("upsert", False))
                if isinstance(change, list):
                    raise CommandError(FAILED_TO_PARSE, "pipeline updates are not supported by the test server")
                if is_operator_update(change):
                    method = collection.update_many if statement.get("multi") else collection.update_one
                    kwargs = {"upsert": upsert}
                    if statement.get("arrayFilters") is not None:
                        kwargs["array_filters"] = statement["arrayFilters"]
                    result = method(query, change, **kwargs)
                else:
                    if statement.get("multi"):
                        raise CommandError(FAILED_TO_PARSE, "multi update requires update operators")
                    result = collection.replace_one(query, change, upsert=upsert)
                matched += result.matched_count
                modified += result.modified_count
                if result.upserted_id is not None:
                    matched += 1
                    upserted.append({"index": index, "_id": result.upserted_id})
            except (DuplicateKeyError, OperationFailure, CommandError) as error:
                if isinstance(error, CommandError):
                    errors.append({"index": index, "code": error.code, "errmsg": error.message})
                else:
                    errors.append(write_error(index, error))
                if ordered:
                    break
        reply = self.write_reply(matched, errors)
        reply["nModified"] = modified
        if upserted:
            reply["upserted"] = upserted
        return reply

    def delete(self, request, document):
        collection = self.collection(request, document)
        deleted = 0
        for statement in document.get("deletes", []):
            query = statement.get("q", {})
            if int(statement.get("limit", 0)) == 1:
                deleted += collection.delete_one(query).deleted_count
            else:
                deleted += collection.delete_many(query).deleted_count
        return {"n": deleted}

    @staticmethod
    def write_reply(count, errors):
        reply = {"n": count}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def find_and_modify(self, request, document):
        collection = self.collection(request, document)
        query = document.get("query") or {}
        sort = sort_spec(document.get("sort"))
        projection = document.get("fields")
        before = collection.find_one(query, sort=sort) if sort else collection.find_one(query)
        if document.get("remove"):
            value = collection.find_one_and_delete(query, projection=projection, sort=sort)
            return {"lastErrorObject": {"n": 1 if value is not None else 0}, "value": value}
        change = document.get("update")
        if change is None or isinstance(change, list):
            raise CommandError(FAILED_TO_PARSE, "findAndModify needs an update document")
        return_document = ReturnDocument.AFTER if document.get("new") else ReturnDocument.BEFORE
        upsert = bool(document.get("upsert", False))
        method = collection.find_one_and_update if is_operator_update(change) else collection.find_one_and_replace
        value = method(query, change, projection=projection, sort=sort, upsert=upsert, return_document=return_document)
        last_error = {"n": 1 if (before is not None or upsert) else 0, "updatedExisting": before is not None}
        if before is None and upsert:
            created = value if value is not None else collection.find_one(query)
            if created is not None:
                last_error["upserted"] = created.get("_id")
        return {"lastErrorObject": last_error, "value": value}

    # --- reads and cursors ---

    def cursor_reply(self, namespace, documents, batch_size, single_batch=False):
        batch_size = int(batch_size or DEFAULT_BATCH_SIZE)
        first, rest = documents[:batch_size], documents[batch_size:]
        cursor_id = 0
        if rest and not single_batch:
            cursor_id = next(self.cursor_ids)
            self.cursors[cursor_id] = (namespace, rest)
        return {"cursor": {"id": Int64(cursor_id), "ns": namespace, "firstBatch": first}}

    def find(self, request, document):
        collection = self.collection(request, document)
        limit = int(document.get("limit", 0) or 0)
        single_batch = bool(document.get("singleBatch", False)) or limit < 0
        cursor = collection.find(
            document.get("filter") or {},
            projection=document.get("projection"),
            skip=int(document.get("skip", 0) or 0),
            limit=abs(limit),
            sort=sort_spec(document.get("sort")),
        )
        return self.cursor_reply(collection.full_name, list(cursor), document.get("batchSize"), single_batch)

    def get_more(self, request, document):
        cursor_id = int(document["getMore"])
        if cursor_id not in self.cursors:
            raise CommandError(CURSOR_NOT_FOUND, "cursor id %d not found" % cursor_id)
        namespace, remaining = self.cursors.pop(cursor_id)
        batch_size = int(document.get("batchSize") or len(remaining) or 1)
        batch, rest = remaining[:batch_size], remaining[batch_size:]
        if rest:
            self.cursors[cursor_id] = (namespace, rest)
        else:
            cursor_id = 0
        return {"cursor": {"id": Int64(cursor_id), "ns": namespace, "nextBatch": batch}}

    def kill_cursors(self, request, document):
        killed = []
        for cursor_id in document.get("cursors", []):
            if self.cursors.pop(int(cursor_id), None) is not None:
                killed.append(Int64(int(cursor_id)))
        return {"cursorsKilled": killed, "cursorsNotFound": [], "cursorsAlive": [], "cursorsUnknown": []}

    def aggregate(self, request, document):
        if not isinstance(document.get("aggregate"), str):
            raise CommandError(COMMAND_NOT_SUPPORTED, "database-level aggregation is not supported")
        collection = self.collection(request, document)
        results = list(collection.aggregate(document.get("pipeline", [])))
        batch_size = (document.get("cursor") or {}).get("batchSize")
        return self.cursor_reply(collection.full_name, results, batch_size)

    def count(self, request, document):
        collection = self.collection(request, document)
        kwargs = {}
        if document.get("skip"):
            kwargs["skip"] = int(document["skip"])
        if document.get("limit"):
            kwargs["limit"] = abs(int(document["limit"]))
        return {"n": collection.count_documents(document.get("query") or {}, **kwargs)}

    def distinct(self, request, document):
        collection = self.collection(request, document)
        return {"values": collection.distinct(document["key"], document.get("query") or {})}

    # --- indexes, collections, databases ---

    def create_indexes(self, request, document):
        collection = self.collection(request, document)
        before = len(collection.index_information())
        for index in document.get("indexes", []):
            options = {"unique": bool(index.get("unique", False)), "sparse": bool(index.get("sparse", False))}
            if index.get("name"):
                options["name"] = index["name"]
            collection.create_index(list(index["key"].items()), **options)
        after = len(collection.index_information())
        return {"createdCollectionAutomatically": False, "numIndexesBefore": before, "numIndexesAfter": after}

    def list_indexes(self, request, document):
        collection = self.collection(request, document)
        if collection.name not in collection.database.list_collection_names():
            raise CommandError(NAMESPACE_NOT_FOUND, "ns does not exist: %s" % collection.full_name)
        indexes = list(collection.list_indexes())
        return self.cursor_reply(collection.full_name, indexes, (document.get("cursor") or {}).get("batchSize"))

    def drop(self, request, document):
        collection = self.collection(request, document)
        collection.database.drop_collection(collection.name)
        return {"ns": collection.full_name, "nIndexesWas": 0}

    def drop_database(self, request, document):
        database = self.database(request, document)
        self.client.drop_database(database.name)
        return {"dropped": database.name}

    def list_collections(self, request, document):
        database = self.database(request, document)
        wanted = (document.get("filter") or {}).get("name")
        names = [name for name in database.list_collection_names() if wanted is None or name == wanted]
        entries = [
            {"name": name, "type": "collection", "options": {}, "info": {"readOnly": False}} for name in sorted(names)
        ]
        batch_size = (document.get("cursor") or {}).get("batchSize")
        return self.cursor_reply("%s.$cmd.listCollections" % database.name, entries, batch_size)

    def list_databases(self, request, document):
        names = self.client.list_database_names()
        return {
            "databases": [{"name": name, "sizeOnDisk": 0, "empty": False} for name in names],
            "totalSize": 0,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--verbose", action="store_true", help="log each command name to stderr")
    arguments = parser.parse_args()

    emulator = Emulator(verbose=arguments.verbose)
    server = mockupdb.MockupDB(port=arguments.port, request_timeout=int(1e6))
    server.autoresponds(emulator.handle)
    port = server.run()
    print("PORT %d" % port, flush=True)

    stopped = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopped.set())
    while not stopped.wait(1):
        pass
    # The data is in memory only: nothing to flush, and exiting closes every client socket at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
