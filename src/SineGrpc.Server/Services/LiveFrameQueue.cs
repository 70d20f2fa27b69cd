using Sine.V1;
using SineGrpc.Server.Transport;

namespace SineGrpc.Server.Services;

/// <summary>
/// The frames of a live-mode stream waiting to be served. Adding a frame marks every
/// waiting frame without prompts or removals as skipped (and releases its pixels): the
/// newest frame wins, yet every frame still gets its reply, in order. The queue is
/// bounded, so a client that floods it is slowed down like any other: in entries, and in
/// frames that still hold their bytes (prompted frames are never skipped, and each may be
/// as large as a message may be).
/// </summary>
/// <param name="capacity">Entries waiting, skip markers included.</param>
/// <param name="framesHeld">Waiting frames that hold their bytes: the newest and prompted ones.</param>
internal sealed class LiveFrameQueue(int capacity, int framesHeld = LiveFrameQueue.DefaultFramesHeld)
{
    /// <summary>Enough for the newest frame and a few prompted ones; 4 raw 4K frames are 100 MB.</summary>
    public const int DefaultFramesHeld = 4;

    private readonly Queue<Entry> _entries = new();
    private readonly SemaphoreSlim _items = new(0);
    private readonly SemaphoreSlim _space = new(capacity);
    private readonly SemaphoreSlim _held = new(Math.Max(2, framesHeld));
    private Exception? _failure;
    private bool _completed;

    /// <summary>A frame to serve, or (Skipped) only its index to answer.</summary>
    public sealed record Entry(ulong FrameIndex, TrackFrame? Frame)
    {
        public bool Skipped => Frame is null;
    }

    public async Task AddAsync(TrackFrame frame, CancellationToken cancellationToken)
    {
        await _space.WaitAsync(cancellationToken);
        // The waiting frames are stale now: skipped first, so that their bytes make room.
        lock (_entries)
        {
            var count = _entries.Count;
            for (var i = 0; i < count; i++)
            {
                var entry = _entries.Dequeue();
                if (entry.Frame is { Prompts.Count: 0, RemoveObjectIds.Count: 0 } stale)
                {
                    FramePayloads.Release(stale);
                    _held.Release();
                    _entries.Enqueue(entry with { Frame = null });
                }
                else
                {
                    _entries.Enqueue(entry);
                }
            }
        }
        try
        {
            await _held.WaitAsync(cancellationToken);
        }
        catch
        {
            _space.Release();
            throw;
        }
        lock (_entries)
            _entries.Enqueue(new Entry(frame.FrameIndex, frame));
        _items.Release();
    }

    /// <summary>No more frames: <see cref="TakeAsync"/> returns null once the queue is empty.</summary>
    public void Complete(Exception? failure = null)
    {
        lock (_entries)
        {
            _failure = failure;
            _completed = true;
        }
        _items.Release();
    }

    public async Task<Entry?> TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _items.WaitAsync(cancellationToken);
            lock (_entries)
            {
                if (_entries.TryDequeue(out var entry))
                {
                    _space.Release();
                    if (!entry.Skipped)
                        _held.Release();
                    return entry;
                }
                if (_completed)
                {
                    if (_failure is not null)
                        throw _failure;
                    return null;
                }
            }
        }
    }
}
