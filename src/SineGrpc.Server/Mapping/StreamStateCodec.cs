using Google.Protobuf;
using SineGrpc.Engine;
using SineGrpc.Engine.Memory;
using EngineState = SineGrpc.Engine.Tracking.StreamState;
using WireState = Sine.V1.StreamState;

namespace SineGrpc.Server.Mapping;

/// <summary>
/// A stream's state to and from the bytes of TrackResponse.state and TrackStart.resume_state
/// (the StreamState message). What comes back is a client's input: read defensively.
/// </summary>
internal static class StreamStateCodec
{
    public const uint Version = 1;

    public static ByteString Encode(EngineState state)
    {
        var memory = state.Memory;
        var message = new WireState
        {
            Version = Version,
            Model = state.Model,
            ModelVersion = state.ModelVersion,
            FramesProcessed = (ulong)state.FramesProcessed,
            MemoryCapacity = (uint)memory.Policy.Capacity,
            FixFirstFrame = memory.Policy.FixFirstFrame,
            DecayRatio = memory.Policy.DecayRatio,
            Channels = (uint)memory.Channels,
        };
        foreach (var o in memory.Objects)
        {
            var wire = new Sine.V1.ObjectMemoryState { ObjectId = (uint)o.ObjectId, Anchor = o.Anchor is null ? null : Entry(o.Anchor) };
            wire.Recent.AddRange(o.Recent.Select(Entry));
            message.Objects.Add(wire);
        }
        return message.ToByteString();
    }

    /// <param name="maxObjects">Limits:MaxObjectsPerStream: a resumed stream holds no more objects than another.</param>
    public static EngineState Decode(ByteString bytes, int maxObjects)
    {
        WireState message;
        try
        {
            message = WireState.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            throw new InvalidInputException("resume_state is not a stream state (it does not parse): send a reply's `state` back as it came");
        }
        if (message.Version != Version)
            throw new InvalidInputException($"resume_state has layout version {message.Version}; this server reads version {Version}");
        if (message.Objects.Count > maxObjects)
            throw new InvalidInputException($"resume_state holds {message.Objects.Count} objects, over the limit of {maxObjects} per stream");
        var frames = Count(message.FramesProcessed, "frame count");
        var policy = new MemoryPolicy((int)Math.Min(message.MemoryCapacity, int.MaxValue), message.FixFirstFrame, message.DecayRatio);
        var objects = message.Objects.Select(o => new TokenObjectState(
            (int)Math.Min(o.ObjectId, int.MaxValue),
            o.Anchor is null ? null : Entry(o.Anchor),
            [.. o.Recent.Select(Entry)])).ToList();
        return new EngineState(message.Model, message.ModelVersion, frames,
            new TokenMemoryState((int)Math.Min(message.Channels, int.MaxValue), policy, objects));
    }

    private static Sine.V1.MemoryEntryState Entry(TokenEntryState entry)
    {
        var wire = new Sine.V1.MemoryEntryState { Area = entry.Area, Score = entry.Score, Frame = (ulong)entry.FrameNumber };
        wire.Sum.AddRange(entry.Sum);
        return wire;
    }

    private static TokenEntryState Entry(Sine.V1.MemoryEntryState wire) =>
        new([.. wire.Sum], wire.Area, wire.Score, Count(wire.Frame, "entry's frame"));

    private static int Count(ulong value, string what) =>
        value <= int.MaxValue ? (int)value : throw new InvalidInputException($"resume_state's {what} {value} is out of range");
}
