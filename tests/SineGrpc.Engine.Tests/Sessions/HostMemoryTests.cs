using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Google.Protobuf;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models.Onnx;
using SineGrpc.Engine.Sessions;

namespace SineGrpc.Engine.Tests.Sessions;

public sealed class HostMemoryTests : IDisposable
{
    private readonly InferenceSession _doubler = new(Doubler());

    [Fact]
    public void Managed_buffers_feed_a_session_as_tensors_of_any_matching_shape()
    {
        using var buffer = HostMemory.Managed.Rent(6);
        Assert.False(HostMemory.Managed.IsPinned);

        Assert.Equal([2f, 4f, 6f, 8f, 10f, 12f], RunDoubler(buffer, 2, 3));
        Assert.Contains("has 4 elements", Assert.Throws<ArgumentException>(() => buffer.AsOrtValue(2, 2)).Message);
    }

    // A stream's memory is kept in one native block of exactly its size, larger than what
    // it holds while the memory fills up: the decoder reads a prefix of it.
    [Fact]
    public void Native_blocks_feed_a_session_whole_or_by_prefix_and_check_their_bounds()
    {
        Assert.False(HostMemory.Native.IsPinned);
        var buffer = HostMemory.Native.Rent(6);
        Assert.Equal(6, buffer.Length);
        Assert.Equal([2f, 4f, 6f, 8f, 10f, 12f], RunDoubler(buffer, 3, 2));

        using (var prefix = buffer.PrefixAsOrtValue(2, 2))
        using (var outputs = _doubler.Run(new RunOptions(), ["x"], [prefix], ["y"]))
            Assert.Equal([2f, 4f, 6f, 8f], outputs[0].GetTensorDataAsSpan<float>().ToArray());
        Assert.Contains("holds only 6", Assert.Throws<ArgumentException>(() => buffer.PrefixAsOrtValue(7, 1)).Message);
        Assert.Contains("has 4 elements", Assert.Throws<ArgumentException>(() => buffer.AsOrtValue(2, 2)).Message);

        buffer.Dispose();
        buffer.Dispose();                                 // harmless: freed once
        Assert.Throws<ObjectDisposedException>(() => buffer.Span.Length);
    }

    // The pinned pool's mechanics, on plain native memory: what differs on a GPU node is
    // only where the blocks come from (ONNX Runtime's CUDA-pinned allocator) and the
    // memory info they are tagged with.
    [Fact]
    public void Pinned_pool_hands_out_native_blocks_that_feed_a_session_and_are_reused()
    {
        var allocator = new CountingNativeAllocator();
        var memory = new PinnedHostMemory(allocator.Allocate, OrtMemoryInfo.DefaultInstance);

        IntPtr firstBlock;
        using (var buffer = memory.Rent(6))
        {
            firstBlock = Address(buffer);
            Assert.Equal([2f, 4f, 6f, 8f, 10f, 12f], RunDoubler(buffer, 3, 2));
        }
        using (var again = memory.Rent(5))
        {
            Assert.Equal(firstBlock, Address(again));    // the same block, given back and reused
            Assert.Equal(5, again.Length);
            using var other = memory.Rent(5);             // the first is taken: a second block
            Assert.NotEqual(firstBlock, Address(other));
        }
        using (memory.Rent(1 << 20)) { }                  // a larger size class: a third block
        Assert.Equal(3, memory.BlockCount);
        Assert.Equal(3, allocator.Allocated);

        var twice = memory.Rent(6);
        twice.Dispose();
        twice.Dispose();                                  // harmless: the block goes back once
        using (var a = memory.Rent(6))
        using (var b = memory.Rent(6))
            Assert.NotEqual(Address(a), Address(b));
        Assert.Throws<ObjectDisposedException>(() => twice.Span.Length);

        memory.Dispose();
        Assert.Equal(0, allocator.Live);                  // every block freed with the pool
        Assert.Throws<ObjectDisposedException>(() => memory.Rent(1));
    }

    [Fact]
    public void Cuda_pinned_memory_cannot_be_had_from_a_cpu_session_and_says_so()
    {
        // The factory asks for pinned memory only on CUDA sessions, and falls back to managed
        // arrays with one log line when even that fails; this is the failure it catches.
        Assert.ThrowsAny<OnnxRuntimeException>(() => PinnedHostMemory.ForCuda(_doubler, deviceId: 0));
    }

    private float[] RunDoubler(HostTensor buffer, long rows, long columns)
    {
        for (var i = 0; i < buffer.Length; i++)
            buffer.Span[i] = i + 1;
        using var input = buffer.AsOrtValue(rows, columns);
        using var outputs = _doubler.Run(new RunOptions(), ["x"], [input], ["y"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static unsafe IntPtr Address(HostTensor buffer)
    {
        fixed (float* start = buffer.Span)
            return (IntPtr)start;
    }

    // A batch of 2, 3 or 4 frames asks for 2, 3 or 4 frames' worth: with the largest batch
    // as the capacity they all take one size class, so the first batch warms it for all.
    [Fact]
    public void Buffers_of_varying_lengths_rented_with_one_capacity_share_one_block()
    {
        var allocator = new CountingNativeAllocator();
        using var memory = new PinnedHostMemory(allocator.Allocate, OrtMemoryInfo.DefaultInstance);
        const int Frame = 40_000;   // floats: 2 and 3 frames fall in a smaller size class than 4

        using (var two = memory.Rent(2 * Frame, 4 * Frame))
        {
            Assert.Equal(2 * Frame, two.Length);
            using var small = memory.Rent(6, 4 * Frame);   // a big block, seen as 6 floats
            Assert.Equal([2f, 4f, 6f, 8f, 10f, 12f], RunDoubler(small, 2, 3));
        }
        foreach (var frames in new[] { 3, 4, 2 })
        {
            using var batch = memory.Rent(frames * Frame, 4 * Frame);
            Assert.Equal(frames * Frame, batch.Length);
        }
        // Two blocks of the one size class (two were out at once), none for 3 or 4 frames.
        Assert.Equal(2, allocator.Allocated);
        using (memory.Rent(4 * Frame)) { }
        Assert.Equal(2, allocator.Allocated);
        using (memory.Rent(3 * Frame)) { }      // without the capacity, 3 frames' own size class
        Assert.Equal(3, allocator.Allocated);

        using var managed = HostMemory.Managed.Rent(2 * Frame, 4 * Frame);
        Assert.Equal(2 * Frame, managed.Length);
        using var array = new PooledArray<float>(3 * Frame, 4 * Frame);
        Assert.Equal(3 * Frame, array.Length);
        Assert.True(array.Array.Length >= 4 * Frame, $"an array of {array.Array.Length} was rented for a capacity of {4 * Frame}");
    }

    private static byte[] Doubler()
    {
        var graph = new OnnxGraphBuilder("doubler");
        var x = graph.Input("x", "rows", "columns");
        graph.Output(graph.Node("Mul", [x, graph.Float(2f)]), "y", "rows", "columns");
        return graph.Build().ToByteArray();
    }

    public void Dispose() => _doubler.Dispose();

    private sealed class CountingNativeAllocator
    {
        public int Allocated { get; private set; }
        public int Live { get; private set; }

        public unsafe NativeBlock Allocate(long bytes)
        {
            var pointer = (IntPtr)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            Allocated++;
            Live++;
            return new NativeBlock(pointer, bytes, new Free(this, pointer));
        }

        private sealed class Free(CountingNativeAllocator owner, IntPtr pointer) : IDisposable
        {
            public unsafe void Dispose()
            {
                NativeMemory.AlignedFree((void*)pointer);
                owner.Live--;
            }
        }
    }
}
