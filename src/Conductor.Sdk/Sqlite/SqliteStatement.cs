using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Conductor.Sdk.Sqlite;

/// <summary>
/// A statement of the group commit, prepared once on the store's connection and bound by position. The group commit
/// runs three statements per delivery; through <see cref="SqliteCommand"/> each execution looks every parameter up by
/// name and boxes its value, which cost more than SQLite's own work on the row. Errors surface as
/// <see cref="SqliteException"/>s with SQLite's code, as the commands' do.
/// </summary>
internal sealed class SqliteStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public SqliteStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        Check(raw.sqlite3_prepare_v2(_db, sql, out _statement));
    }

    /// <summary>
    /// Binds text as UTF-8 encoded on the stack: SQLitePCL's string overload allocates an array per value, several per
    /// delivery. Encoding.UTF8 makes the same bytes (a lone surrogate becomes U+FFFD in both). An empty or long value
    /// takes the string overload: an empty span would bind NULL, and a long one is rare (an error text).
    /// </summary>
    public void Text(int index, string value)
    {
        if (value.Length is 0 or > MaxStackChars)
        {
            Check(raw.sqlite3_bind_text(_statement, index, value));
            return;
        }

        Span<byte> utf8 = stackalloc byte[MaxStackChars * 3];
        Check(raw.sqlite3_bind_text(_statement, index, utf8[..System.Text.Encoding.UTF8.GetBytes(value, utf8)]));
    }

    public void TextOrNull(int index, string? value)
    {
        if (value is null) Check(raw.sqlite3_bind_null(_statement, index));
        else Text(index, value);
    }

    private const int MaxStackChars = 256;

    public void Int(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    public void Int(int index, long? value) => Check(value is { } v ? raw.sqlite3_bind_int64(_statement, index, v) : raw.sqlite3_bind_null(_statement, index));

    public void Blob(int index, ReadOnlySpan<byte> value) =>
        Check(value.IsEmpty ? raw.sqlite3_bind_zeroblob(_statement, index, 0) : raw.sqlite3_bind_blob(_statement, index, value));

    /// <summary>Runs the statement and returns how many rows it changed.</summary>
    public int Run()
    {
        var rc = raw.sqlite3_step(_statement);
        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_DONE) throw Error(rc);
        return raw.sqlite3_changes(_db);
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK) throw Error(rc);
    }

    // The primary code (the low byte), as SqliteCommand reports it; the extended one goes with it.
    private SqliteException Error(int rc) => new(raw.sqlite3_errmsg(_db).utf8_to_string(), rc & 0xFF, raw.sqlite3_extended_errcode(_db));

    public void Dispose() => _statement.Dispose();
}
