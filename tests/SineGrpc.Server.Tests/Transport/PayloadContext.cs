using System.Buffers;
using Grpc.Core;

namespace SineGrpc.Server.Tests.Transport;

/// <summary>A gRPC payload as the transport presents it: a sequence of one or more segments.</summary>
internal sealed class PayloadContext : DeserializationContext
{
    private readonly ReadOnlySequence<byte> _payload;

    /// <param name="segmentLength">Bytes per segment; the last one may be shorter.</param>
    public PayloadContext(byte[] payload, int segmentLength = int.MaxValue)
    {
        _payload = Segmented(payload, segmentLength);
    }

    public override int PayloadLength => checked((int)_payload.Length);

    public override byte[] PayloadAsNewBuffer() => _payload.ToArray();

    public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => _payload;

    private static ReadOnlySequence<byte> Segmented(byte[] payload, int segmentLength)
    {
        if (payload.Length <= segmentLength)
            return new ReadOnlySequence<byte>(payload);
        var first = new Segment(payload.AsMemory(0, segmentLength), 0);
        var last = first;
        for (var start = segmentLength; start < payload.Length; start += segmentLength)
            last = last.Append(payload.AsMemory(start, Math.Min(segmentLength, payload.Length - start)));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
