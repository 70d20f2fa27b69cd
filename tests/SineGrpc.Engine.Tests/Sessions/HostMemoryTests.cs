using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Google.Protobuf;
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
