using System.Runtime.CompilerServices;
using Sine.V1;
using SineGrpc.Engine.Memory;

namespace SineGrpc.Server.Transport;

/// <summary>
/// The pooled buffers that Track frames' image bytes point into (see
/// <see cref="TrackRequestDeserializer"/>), and the one way to give them back.
/// </summary>
internal static class FramePayloads
{
    // Weakly keyed by the frame: a frame that is never released (its stream ended before
    // it was served) takes its entry along when it is collected, and its buffer goes to
    // the garbage collector instead of back to the pool. Nothing leaks, nothing is
    // returned twice.
    private static readonly ConditionalWeakTable<TrackFrame, PooledArray<byte>> Buffers = new();

    /// <summary>Records that <paramref name="frame"/>'s image bytes live in <paramref name="buffer"/>, which the frame now owns.</summary>
    public static void Attach(TrackFrame frame, PooledArray<byte> buffer) => Buffers.Add(frame, buffer);

    /// <summary>Whether the frame's image bytes are in a pooled buffer not yet released.</summary>
    public static bool IsPooled(TrackFrame frame) => Buffers.TryGetValue(frame, out _);

    /// <summary>
    /// Gives the frame's buffer back to the pool once its image is decoded, or will never
    /// be, and takes the image off the frame so that nothing reads the bytes after the
    /// buffer carries another frame. Safe to call twice, or from two threads at once; does
    /// nothing to a frame whose bytes are not pooled (one built in code, say).
    /// </summary>
    public static void Release(TrackFrame frame)
    {
        // Remove settles a race: of two releases of one frame, only one removes the entry.
        if (!Buffers.TryGetValue(frame, out var buffer) || !Buffers.Remove(frame))
            return;
        frame.Image = null;
        buffer.Dispose();
    }
}
