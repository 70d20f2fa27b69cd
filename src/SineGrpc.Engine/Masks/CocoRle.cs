using System.Buffers;

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
    // A count is at most 32 bits, a delta at most 33 with its sign: 7 groups of 5 bits.
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
            int n = ParseCounts(counts, buffer);
            return buffer.AsSpan(0, n).ToArray();
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes a compressed counts string into a row-major 0/1 mask.</summary>
    /// <exception cref="InvalidInputException">The string is malformed or its runs do not cover exactly height*width pixels.</exception>
    public static void Decode(string counts, int height, int width, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var buffer = ArrayPool<uint>.Shared.Rent(Math.Max(counts.Length, 1));
        try
        {
            int n = ParseCounts(counts, buffer);
            DecodeCounts(buffer.AsSpan(0, n), height, width, destination);
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes uncompressed counts into a row-major 0/1 mask.</summary>
    /// <exception cref="InvalidInputException">The size is not positive or the counts do not sum to exactly height*width.</exception>
    public static void DecodeCounts(ReadOnlySpan<uint> counts, int height, int width, Span<byte> destination)
    {
        if (height <= 0 || width <= 0)
            throw new InvalidInputException($"RLE mask size {height}x{width} must be positive");
        long pixels = (long)height * width;
        if (destination.Length != pixels)
            throw new ArgumentException($"destination has {destination.Length} bytes, the mask needs {pixels}", nameof(destination));

        ulong sum = 0;
        foreach (var count in counts)
            sum += count;
        if (sum != (ulong)pixels)
            throw new InvalidInputException($"RLE counts sum to {sum} but the mask is {height}x{width} = {pixels} pixels");

        // Runs are column-major: fill them into a column-major scratch with Span.Fill
        // (fast for long runs), then transpose into the row-major destination.
        var columnMajor = ArrayPool<byte>.Shared.Rent((int)pixels);
        try
        {
            var cm = columnMajor.AsSpan(0, (int)pixels);
            int position = 0;
            byte value = 0;
            foreach (var count in counts)
            {
                cm.Slice(position, (int)count).Fill(value);
                position += (int)count;
                value ^= 1;
            }
            Transpose(cm, rows: width, cols: height, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(columnMajor);
        }
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

        // Transpose once so that runs are contiguous: then each run end is a vectorised
        // IndexOf search instead of a strided walk down every column.
        var columnMajor = ArrayPool<byte>.Shared.Rent((int)pixels);
        try
        {
            var cm = columnMajor.AsSpan(0, (int)pixels);
            Transpose(mask, rows: height, cols: width, cm);
            int position = 0;
            bool inObject = false;
            while (position < cm.Length)
            {
                var rest = cm[position..];
                int run = inObject ? rest.IndexOf((byte)0) : rest.IndexOfAnyExcept((byte)0);
                if (run < 0)
                    run = rest.Length;
                sink.Add((uint)run);
                position += run;
                inObject = !inObject;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(columnMajor);
        }
    }

    /// <summary>Writes the transpose of a rows x cols row-major matrix (so cols x rows) to <paramref name="destination"/>.</summary>
    private static void Transpose(ReadOnlySpan<byte> source, int rows, int cols, Span<byte> destination)
    {
        // Square tiles keep both the reads and the strided writes within a few cache lines.
        const int Tile = 32;
        for (int r0 = 0; r0 < rows; r0 += Tile)
        {
            int r1 = Math.Min(r0 + Tile, rows);
            for (int c0 = 0; c0 < cols; c0 += Tile)
            {
                int c1 = Math.Min(c0 + Tile, cols);
                for (int r = r0; r < r1; r++)
                {
                    var row = source.Slice(r * cols, cols);
                    for (int c = c0; c < c1; c++)
                        destination[c * rows + r] = row[c];
                }
            }
        }
    }

    /// <summary>Collects counts into a pooled, growing buffer.</summary>
    private struct CountsCollector(int initialCapacity) : IRunSink, IDisposable
    {
        private uint[] _buffer = ArrayPool<uint>.Shared.Rent(initialCapacity);
        private int _length;

        public void Add(uint count)
        {
            if (_length == _buffer.Length)
                _buffer = Grow(_buffer, _length);
            _buffer[_length++] = count;
        }

        public readonly uint[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

        public void Dispose()
        {
            ArrayPool<uint>.Shared.Return(_buffer);
            _buffer = [];
        }
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
                _chars = Grow(_chars, _length);
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

    private static T[] Grow<T>(T[] buffer, int used)
    {
        var bigger = ArrayPool<T>.Shared.Rent(Math.Max(buffer.Length * 2, 16));
        buffer.AsSpan(0, used).CopyTo(bigger);
        ArrayPool<T>.Shared.Return(buffer);
        return bigger;
    }

    // ---- decoding ----------------------------------------------------------------

    /// <summary>Parses a compressed string into <paramref name="counts"/> (at least s.Length long); returns how many.</summary>
    private static int ParseCounts(string s, Span<uint> counts)
    {
        int n = 0;
        int p = 0;
        while (p < s.Length)
        {
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
