using System.Buffers;

namespace SineGrpc.Engine.Memory;

/// <summary>
/// An array rented from the shared pool, with its exact <see cref="Length"/>. Per-frame
/// tensors and masks live in these so that a long stream does not churn the large
/// object heap.
/// </summary>
public sealed class PooledArray<T> : IDisposable
{
    // A pool of our own rather than ArrayPool.Shared: the shared pool trims large arrays
    // after gen-2 collections, which large tensors themselves trigger, so a long stream
    // kept re-allocating them. This one keeps what it has been given back: as many arrays
    // of a size as were once in use at the same time. That bound must exceed what the
    // streams hold at once (a dense memory keeps a frame of features per entry: 16 streams
    // x 6 entries of one size class), or every frame drops one array and allocates another.
    private static readonly ArrayPool<T> Pool = ArrayPool<T>.Create(maxArrayLength: 1 << 28, maxArraysPerBucket: 1024);

    private T[]? _array;

    public PooledArray(int length)
        : this(length, length)
    {
    }

    /// <summary>
    /// An array of <paramref name="length"/> taken from the size class of
    /// <paramref name="capacity"/>: requests whose lengths vary (a batch of 2, 3 or 4
    /// frames) then share one array instead of each size class allocating its own.
    /// </summary>
    public PooledArray(int length, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _array = Pool.Rent(Math.Max(1, Math.Max(length, capacity)));
    }

    public int Length { get; }

    public T[] Array => _array ?? throw new ObjectDisposedException(nameof(PooledArray<T>));

    public Span<T> Span => Array.AsSpan(0, Length);

    public Memory<T> Memory => Array.AsMemory(0, Length);

    public static PooledArray<T> CopyOf(ReadOnlySpan<T> source)
    {
        var copy = new PooledArray<T>(source.Length);
        source.CopyTo(copy.Span);
        return copy;
    }

    /// <summary>A zero-filled array (rented arrays hold whatever their last user left).</summary>
    public static PooledArray<T> Zeroed(int length)
    {
        var array = new PooledArray<T>(length);
        array.Span.Clear();
        return array;
    }

    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array is not null)
            Pool.Return(array);
    }
}
