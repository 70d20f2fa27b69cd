using OpenCvSharp;

namespace SineGrpc.Client.Tracking;

/// <summary>A frame sent and not yet answered: what the reply handler needs to know about it.</summary>
internal sealed class PendingFrame(ulong index, string name, Mat? image) : IDisposable
{
    public ulong Index { get; } = index;

    public string Name { get; } = name;

    /// <summary>The frame's pixels, kept only when an overlay video is written.</summary>
    public Mat? Image { get; } = image;

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

    public void Dispose()
    {
        while (_frames.TryDequeue(out var frame))
        {
            frame.Dispose();
        }
        _slots.Dispose();
    }
}
