using System;
using System.Collections;
using System.Collections.Generic;

namespace Conductor.Sdk.Model
{
    /// <summary>
    /// An immutable array with value equality, so that models built from it compare by content.
    /// Incremental generator caching depends on this: two parses of the same text must be equal.
    /// </summary>
    public readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IReadOnlyList<T>
        where T : IEquatable<T>
    {
        private readonly T[]? _items;

        /// <summary>Wraps <paramref name="items"/>; the caller must not mutate it afterwards.</summary>
        public EquatableArray(T[] items) => _items = items;

        /// <summary>An empty array.</summary>
        public static EquatableArray<T> Empty => new EquatableArray<T>(Array.Empty<T>());

        /// <inheritdoc />
        public int Count => _items?.Length ?? 0;

        /// <inheritdoc />
        public T this[int index] => (_items ?? Array.Empty<T>())[index];

        /// <summary>True when there are no items.</summary>
        public bool IsEmpty => Count == 0;

        /// <inheritdoc />
        public bool Equals(EquatableArray<T> other)
        {
            var a = _items ?? Array.Empty<T>();
            var b = other._items ?? Array.Empty<T>();
            if (ReferenceEquals(a, b)) return true;
            if (a.Length != b.Length) return false;
            for (var i = 0; i < a.Length; i++)
            {
                if (!EqualityComparer<T>.Default.Equals(a[i], b[i])) return false;
            }

            return true;
        }

        /// <inheritdoc />
        public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

        /// <inheritdoc />
        public override int GetHashCode()
        {
            unchecked
            {
                var hash = 17;
                foreach (var item in _items ?? Array.Empty<T>())
                {
                    hash = hash * 31 + (item is null ? 0 : item.GetHashCode());
                }

                return hash;
            }
        }

        /// <summary>Value equality.</summary>
        public static bool operator ==(EquatableArray<T> left, EquatableArray<T> right) => left.Equals(right);

        /// <summary>Value inequality.</summary>
        public static bool operator !=(EquatableArray<T> left, EquatableArray<T> right) => !left.Equals(right);

        /// <summary>Copies the items into a new array.</summary>
        public T[] ToArray() => (T[])(_items ?? Array.Empty<T>()).Clone();

        /// <inheritdoc />
        public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? Array.Empty<T>())).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Factory helpers for <see cref="EquatableArray{T}"/>.</summary>
    public static class EquatableArray
    {
        /// <summary>Creates an array from a sequence.</summary>
        public static EquatableArray<T> From<T>(IEnumerable<T> items)
            where T : IEquatable<T> => new EquatableArray<T>(new List<T>(items).ToArray());

        /// <summary>Creates an array from a sequence (extension form).</summary>
        public static EquatableArray<T> ToEquatableArray<T>(this IEnumerable<T> items)
            where T : IEquatable<T> => From(items);
    }
}
