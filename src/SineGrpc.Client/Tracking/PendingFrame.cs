using OpenCvSharp;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary>A frame on its way to the server or waiting for its reply: what it sends, and what the reply handler needs.</summary>
internal sealed class PendingFrame(ulong index, string name, TrackFrame request, Mat? image, bool isReplay = false) : IDisposable
{
    public ulong Index { get; } = index;

    public string Name { get; } = name;

    /// <summary>The message sent for it; kept so that a new stream can send it again.</summary>
    public TrackFrame Request { get; } = request;

    /// <summary>The frame's pixels, kept only when an overlay video is written.</summary>
    public Mat? Image { get; } = image;

    /// <summary>
    /// Sent again on a resumed stream only to rebuild the objects' memory: its reply was
    /// already handled on the stream before, so this one is dropped.
    /// </summary>
    public bool IsReplay { get; } = isReplay;

    public void Dispose() => Image?.Dispose();
}

/// <summary>
/// The frames on the wire, oldest first, at most <c>capacity</c> of them: the sender waits for a slot
/// before sending, the reader frees one per reply. That bounds memory (kept pixels, the server's queue)
/// while sending and receiving overlap.
/// </summary>
internal sealed class InFlightFrames(int capacity) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(capacity, capacity);
    private readonly System.Collections.Concurrent.ConcurrentQueue<PendingFrame> _frames = new();
    private volatile bool _allSent;

    public bool AllSent => _allSent;

    public bool IsEmpty => _frames.IsEmpty;

    public Task WaitForSlotAsync(CancellationToken cancellationToken) => _slots.WaitAsync(cancellationToken);

    /// <summary>Gives back a slot that was waited for but is not needed: there is nothing more to send.</summary>
    public void ReturnSlot() => _slots.Release();

    /// <summary>Records a frame; call before sending it, so its reply always finds it here.</summary>
    public void Add(PendingFrame frame) => _frames.Enqueue(frame);

    public void MarkAllSent() => _allSent = true;

    public bool TryTakeOldest(out PendingFrame frame) => _frames.TryDequeue(out frame!);

    /// <summary>Frees an answered frame's slot and pixels.</summary>
    public void Release(PendingFrame frame)
    {
        frame.Dispose();
        _slots.Release();
    }

    /// <summary>The frames still unanswered, oldest first, handed over to the caller (a call that ended early).</summary>
    public List<PendingFrame> TakeUnanswered()
    {
        var frames = new List<PendingFrame>();
        while (_frames.TryDequeue(out var frame))
        {
            frames.Add(frame);
        }
        return frames;
    }

    public void Dispose()
    {
        foreach (var frame in TakeUnanswered())
        {
            frame.Dispose();
        }
        _slots.Dispose();
    }
}
