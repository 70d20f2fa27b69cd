using System.Buffers;
using System.Numerics;

namespace SineGrpc.Engine.Masks;

/// <summary>
/// COCO run-length encoding, bit-compatible with pycocotools (<c>maskApi.c</c>).
/// </summary>
/// <remarks>
/// <para>
/// The runs walk the mask in column-major (Fortran) order: down the first column, then the
/// second, and so on. Counts alternate zero-run, one-run, ... and always start with a zero
/// run, which is 0 when the top-left pixel is set. An empty mask is a single count h*w.
/// </para>
/// <para>
/// The compressed string (<c>rleToString</c>): every count with index i &gt; 2 is replaced by
/// its difference to count i-2 (runs two apart tend to be alike, so the differences are
/// small). Each value is then written as 5-bit groups, least significant first; a group
/// carries 0x20 when more groups follow, and the last group's 0x10 bit is the sign (the
/// value is sign-extended from it on reading). Each group is written as the character
/// 48 + group, so the alphabet is '0' (48) to 'o' (111).
/// </para>
/// <para>Masks in this API are row-major byte spans of height*width; any non-zero byte is object.</para>
/// </remarks>
public static class CocoRle
{
    // A count is at most 32 bits, a delta at most 33 with its sign: 7 groups of 5 bits. The
    // parser refuses any longer count, so a valid string has at most 7 characters per count;
    // Decode uses that to bound the string's length by the mask's size before parsing.
    private const int MaxGroupsPerCount = 7;
    private const int FirstChar = 48;
    private const int LastChar = FirstChar + 63;

    /// <summary>Encodes a row-major mask straight to the compressed counts string.</summary>
    public static string Encode(ReadOnlySpan<byte> mask, int height, int width)
    {
        var writer = new CountsWriter(initialCapacity: 64);
        try
        {
            ForEachRun(mask, height, width, ref writer);
            return writer.ToString();
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Uncompressed counts of a row-major mask (pycocotools' <c>rleEncode</c>).</summary>
    public static uint[] EncodeCounts(ReadOnlySpan<byte> mask, int height, int width)
    {
        var collector = new CountsCollector(initialCapacity: 64);
        try
        {
            ForEachRun(mask, height, width, ref collector);
            return collector.ToArray();
        }
        finally
        {
            collector.Dispose();
        }
    }

    /// <summary>The compressed string of uncompressed counts (pycocotools' <c>rleToString</c>).</summary>
    public static string CompressCounts(ReadOnlySpan<uint> counts)
    {
        var writer = new CountsWriter(counts.Length * 2 + 8);
        try
        {
            foreach (var count in counts)
                writer.Add(count);
            return writer.ToString();
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Uncompressed counts of a compressed string (pycocotools' <c>rleFrString</c>).</summary>
    /// <exception cref="InvalidInputException">The string has characters outside '0'..'o', ends inside a count, or yields a negative or oversized run.</exception>
    public static uint[] DecompressCounts(string counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        // Every count takes at least one character, so the string length bounds the count of counts.
        var buffer = ArrayPool<uint>.Shared.Rent(Math.Max(counts.Length, 1));
        try
        {
            int n = ParseCounts(counts, buffer.AsSpan(0, counts.Length));
            return buffer.AsSpan(0, n).ToArray();
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes a compressed counts string into a row-major 0/1 mask.</summary>
    /// <exception cref="InvalidInputException">The string is malformed, longer than any mask of the size needs, or its runs do not cover exactly height*width pixels.</exception>
    public static void Decode(string counts, int height, int width, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(counts);
        CheckSize(height, width);
        // Refused before anything is allocated or parsed, so that the work is bounded by the
        // mask and not by the string: zero-length runs are valid, so without this a huge
        // "000...0" string would be parsed in full (and buffers rented for it) before the
        // runs' sum is checked. ParseCounts refuses a count of more than MaxGroupsPerCount
        // characters, and a valid mask has at most MaxCounts counts, so no valid string is
        // longer than this.
        long maxCounts = MaxCounts(height, width);
        long maxChars = MaxGroupsPerCount * maxCounts;
        if (counts.Length > maxChars)
            throw new InvalidInputException(
                $"RLE counts string has {counts.Length} characters, more than the {maxChars} a {height}x{width} mask can need ({maxCounts} counts of at most {MaxGroupsPerCount} characters)");

        // Every count takes at least one character, so the shorter of the two bounds the counts.
        int capacity = (int)Math.Min(counts.Length, maxCounts);
        var buffer = ArrayPool<uint>.Shared.Rent(Math.Max(capacity, 1));
        try
        {
            int n = ParseCounts(counts, buffer.AsSpan(0, capacity));
            DecodeCounts(buffer.AsSpan(0, n), height, width, destination);
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes uncompressed counts into a row-major 0/1 mask.</summary>
    /// <exception cref="InvalidInputException">The size is not positive, there are more counts than any mask of the size has, or the counts do not sum to exactly height*width.</exception>
    public static void DecodeCounts(ReadOnlySpan<uint> counts, int height, int width, Span<byte> destination)
    {
        CheckCountLimit(counts.Length, height, width);
        long pixels = (long)height * width;
        if (destination.Length != pixels)
            throw new ArgumentException($"destination has {destination.Length} bytes, the mask needs {pixels}", nameof(destination));

        ulong sum = 0;
        foreach (var count in counts)
            sum += count;
        if (sum != (ulong)pixels)
            throw new InvalidInputException($"RLE counts sum to {sum} but the mask is {height}x{width} = {pixels} pixels");

        // The inverse of the encoder's transitions: the top row is the state at the top of
        // each column (the parity of all transitions up to there), and every other row is the
        // row above with the pixels toggled where their column changes state at that row.
        var transitions = ArrayPool<int>.Shared.Rent(counts.Length + 1);
        var toggles = ArrayPool<int>.Shared.Rent(counts.Length + 1);
        var rowStart = ArrayPool<int>.Shared.Rent(height + 1);
        try
        {
            // A run boundary inside the mask is a transition; a zero-length run gives two at the
            // same place, which cancel out as they should.
            int n = 0;
            long position = 0;
            foreach (var count in counts)
            {
                position += count;
                if (position < pixels)
                    transitions[n++] = (int)position;
            }

            var top = destination[..width];
            byte value = 0;
            for (int x = 0, k = 0; x < width; x++)
            {
                int columnTop = x * height;
                while (k < n && transitions[k] <= columnTop)
                {
                    value ^= 1;
                    k++;
                }
                top[x] = value;
            }

            // Counting sort by row of the transitions below the top row (top ones are done).
            var starts = rowStart.AsSpan(0, height + 1);
            starts.Clear();
            foreach (var t in transitions.AsSpan(0, n))
            {
                int y = t % height;
                if (y != 0)
                    starts[y + 1]++;
            }
            for (int y = 1; y <= height; y++)
                starts[y] += starts[y - 1];
            foreach (var t in transitions.AsSpan(0, n))
            {
                int y = t % height;
                if (y != 0)
                    toggles[starts[y]++] = t / height;
            }
            // After the fill, row y's toggles end at starts[y] and begin at starts[y - 1].
            for (int y = 1; y < height; y++)
            {
                var row = destination.Slice(y * width, width);
                destination.Slice((y - 1) * width, width).CopyTo(row);
                foreach (var x in toggles.AsSpan(starts[y - 1], starts[y] - starts[y - 1]))
                    row[x] ^= 1;
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(transitions);
            ArrayPool<int>.Shared.Return(toggles);
            ArrayPool<int>.Shared.Return(rowStart);
        }
    }

    /// <summary>
    /// Refuses more uncompressed counts than a mask of the size can have (see
    /// <see cref="MaxCounts"/>). Callers that must copy the counts first check with this
    /// before copying, so that the copy is bounded by the mask.
    /// </summary>
    /// <exception cref="InvalidInputException">The size is not positive or there are too many counts.</exception>
    public static void CheckCountLimit(long count, int height, int width)
    {
        CheckSize(height, width);
        long maxCounts = MaxCounts(height, width);
        if (count > maxCounts)
            throw new InvalidInputException(
                $"RLE has {count} counts, more than the {maxCounts} a {height}x{width} mask can have (one run per pixel plus a leading zero run)");
    }

    /// <summary>
    /// The most counts a valid mask of the size has: one run per pixel, plus the leading zero
    /// run pycocotools writes when the first pixel is set. Any other zero-length run is never
    /// needed (it only splits a run in two), so no valid mask needs more.
    /// </summary>
    private static long MaxCounts(int height, int width) => (long)height * width + 1;

    private static void CheckSize(int height, int width)
    {
        if (height <= 0 || width <= 0)
            throw new InvalidInputException($"RLE mask size {height}x{width} must be positive");
    }

    // ---- encoding ----------------------------------------------------------------

    private interface IRunSink
    {
        void Add(uint count);
    }

    /// <summary>Feeds the column-major runs of a row-major mask to a sink, zero run first.</summary>
    private static void ForEachRun<TSink>(ReadOnlySpan<byte> mask, int height, int width, ref TSink sink)
        where TSink : struct, IRunSink
    {
        ArgumentOutOfRangeException.ThrowIfNegative(height);
        ArgumentOutOfRangeException.ThrowIfNegative(width);
        long pixels = (long)height * width;
        if (mask.Length != pixels)
            throw new ArgumentException($"mask has {mask.Length} bytes, {height}x{width} needs {pixels}", nameof(mask));
        if (pixels == 0)
        {
            sink.Add(0); // as pycocotools: an empty image is the single count 0
            return;
        }

        // Runs are the gaps between transitions, so find those and emit their distances:
        // no column-major copy of the mask is needed.
        var transitions = new PooledList<int>(64);
        try
        {
            FindTransitions(mask, height, width, ref transitions);
            int last = 0;
            foreach (var position in transitions.AsSpan())
            {
                sink.Add((uint)(position - last));
                last = position;
            }
            sink.Add((uint)(pixels - last));
        }
        finally
        {
            transitions.Dispose();
        }
    }

    /// <summary>
    /// Appends to <paramref name="result"/>, ascending, the column-major index (x*height + y) of
    /// every pixel whose state (object or not) differs from the pixel before it in column-major
    /// order; the first pixel is compared with background.
    /// </summary>
    private static void FindTransitions(ReadOnlySpan<byte> mask, int height, int width, ref PooledList<int> result)
    {
        // A pixel differs from its column-major predecessor exactly when it differs from the
        // pixel above it, except at the top of a column, whose predecessor is the bottom of the
        // previous column. Comparing whole rows is contiguous and vectorised; the few changes
        // found (in row order) are then counting-sorted by column, which keeps y ascending.
        var found = new PooledList<int>(64); // row-major indices y*width + x
        var columnStart = ArrayPool<int>.Shared.Rent(width + 1);
        try
        {
            var top = mask[..width];
            var bottom = mask.Slice((height - 1) * width, width);
            for (int x = 0; x < width; x++)
            {
                bool previous = x > 0 && bottom[x - 1] != 0;
                if ((top[x] != 0) != previous)
                    found.Add(x);
            }
            for (int y = 1; y < height; y++)
                FindChanges(mask.Slice((y - 1) * width, width), mask.Slice(y * width, width), y * width, ref found);

            var starts = columnStart.AsSpan(0, width + 1);
            starts.Clear();
            foreach (var index in found.AsSpan())
                starts[index % width + 1]++;
            for (int x = 1; x <= width; x++)
                starts[x] += starts[x - 1];
            var output = result.Append(found.Count);
            foreach (var index in found.AsSpan())
            {
                int x = index % width;
                output[starts[x]++] = x * height + index / width;
            }
        }
        finally
        {
            found.Dispose();
            ArrayPool<int>.Shared.Return(columnStart);
        }
    }

    /// <summary>Adds rowOffset + x for every x where one of the rows is zero and the other is not.</summary>
    private static void FindChanges(ReadOnlySpan<byte> above, ReadOnlySpan<byte> row, int rowOffset, ref PooledList<int> found)
    {
        int x = 0;
        if (Vector.IsHardwareAccelerated)
        {
            // Most blocks of a mask are identical to the block above: skip them a vector at a time.
            for (; x <= row.Length - Vector<byte>.Count; x += Vector<byte>.Count)
            {
                var aboveZero = Vector.Equals(new Vector<byte>(above[x..]), Vector<byte>.Zero);
                var rowZero = Vector.Equals(new Vector<byte>(row[x..]), Vector<byte>.Zero);
                if (aboveZero == rowZero)
                    continue;
                for (int j = x; j < x + Vector<byte>.Count; j++)
                {
                    if ((row[j] != 0) != (above[j] != 0))
                        found.Add(rowOffset + j);
                }
            }
        }
        for (; x < row.Length; x++)
        {
            if ((row[x] != 0) != (above[x] != 0))
                found.Add(rowOffset + x);
        }
    }

    /// <summary>A growable list on pooled arrays: Dispose returns the array.</summary>
    private struct PooledList<T>(int initialCapacity) : IDisposable
    {
        private T[] _items = ArrayPool<T>.Shared.Rent(initialCapacity);

        public int Count { get; private set; }

        public void Add(T item)
        {
            if (Count == _items.Length)
                _items = Grow(_items, Count, Count + 1);
            _items[Count++] = item;
        }

        /// <summary>Extends the list by <paramref name="count"/> items and returns them to be written.</summary>
        public Span<T> Append(int count)
        {
            if (_items.Length - Count < count)
                _items = Grow(_items, Count, Count + count);
            Count += count;
            return _items.AsSpan(Count - count, count);
        }

        public readonly Span<T> AsSpan() => _items.AsSpan(0, Count);

        public void Dispose()
        {
            ArrayPool<T>.Shared.Return(_items);
            _items = [];
            Count = 0;
        }
    }

    /// <summary>Collects counts into a pooled, growing buffer.</summary>
    private struct CountsCollector(int initialCapacity) : IRunSink, IDisposable
    {
        private PooledList<uint> _counts = new(initialCapacity);

        public void Add(uint count) => _counts.Add(count);

        public readonly uint[] ToArray() => _counts.AsSpan().ToArray();

        public void Dispose() => _counts.Dispose();
    }

    /// <summary>Writes counts as the compressed string, one count at a time (rleToString).</summary>
    private struct CountsWriter(int initialCapacity) : IRunSink, IDisposable
    {
        private char[] _chars = ArrayPool<char>.Shared.Rent(initialCapacity);
        private int _length;
        private int _index;
        // The two previous counts: count i is delta-coded against count i-2 once i > 2.
        private uint _previous1;
        private uint _previous2;

        public void Add(uint count)
        {
            long x = count;
            if (_index > 2)
                x -= _previous2;
            _previous2 = _previous1;
            _previous1 = count;
            _index++;

            if (_chars.Length - _length < MaxGroupsPerCount)
                _chars = Grow(_chars, _length, _length + MaxGroupsPerCount);
            bool more = true;
            while (more)
            {
                int group = (int)(x & 0x1f);
                x >>= 5; // arithmetic shift: negative deltas stay negative
                // Stop once the rest is pure sign extension of this group's top bit.
                more = (group & 0x10) != 0 ? x != -1 : x != 0;
                if (more)
                    group |= 0x20;
                _chars[_length++] = (char)(FirstChar + group);
            }
        }

        public override readonly string ToString() => new(_chars, 0, _length);

        public void Dispose()
        {
            ArrayPool<char>.Shared.Return(_chars);
            _chars = [];
        }
    }

    private static T[] Grow<T>(T[] buffer, int used, int needed)
    {
        var bigger = ArrayPool<T>.Shared.Rent(Math.Max(Math.Max(buffer.Length * 2, 16), needed));
        buffer.AsSpan(0, used).CopyTo(bigger);
        ArrayPool<T>.Shared.Return(buffer);
        return bigger;
    }

    // ---- decoding ----------------------------------------------------------------

    /// <summary>
    /// Parses a compressed string into <paramref name="counts"/>; returns how many. Its length
    /// is the most counts allowed: parsing stops, refusing the string, at the first count
    /// beyond it.
    /// </summary>
    private static int ParseCounts(string s, Span<uint> counts)
    {
        int n = 0;
        int p = 0;
        while (p < s.Length)
        {
            if (n == counts.Length)
                throw new InvalidInputException(
                    $"RLE counts string has more than {counts.Length} counts (the next starts at character {p}), more than its mask can have (one run per pixel plus a leading zero run)");
            int start = p;
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= s.Length)
                    throw new InvalidInputException($"RLE counts string is truncated: the run starting at character {start} is not finished");
                int ch = s[p];
                if (ch < FirstChar || ch > LastChar)
                    throw new InvalidInputException($"RLE counts string has an invalid character '{s[p]}' (U+{ch:X4}) at position {p}; only '0' to 'o' are allowed");
                if (k == MaxGroupsPerCount)
                    throw new InvalidInputException($"RLE counts string has a run at character {start} longer than {MaxGroupsPerCount} characters");
                int group = ch - FirstChar;
                x |= (long)(group & 0x1f) << (5 * k);
                more = (group & 0x20) != 0;
                p++;
                k++;
                if (!more && (group & 0x10) != 0)
                    x |= -1L << (5 * k); // sign-extend from the last group
            }
            if (n > 2)
                x += counts[n - 2];
            if (x < 0 || x > uint.MaxValue)
                throw new InvalidInputException($"RLE counts string decodes to an invalid run length {x} at character {start}");
            counts[n++] = (uint)x;
        }
        return n;
    }
}
