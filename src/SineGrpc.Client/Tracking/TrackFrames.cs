using SineGrpc.Client.Frames;

namespace SineGrpc.Client.Tracking;

/// <summary>
/// The frames of one track, across the streams that carry it: what to send next, and what a
/// new stream needs when the server ended the last one early (a draining pod, a lost
/// connection). A stream's memory lives on the server and is lost with it, so a new stream
/// first gets the answered frames that rebuild it (every prompted frame with its prompts,
/// then the most recent answered ones, in their order; their replies are dropped), then the
/// frames the last stream left unanswered, then the rest of the video.
/// </summary>
/// <remarks>
/// During a call its sender takes frames (<see cref="TryNext"/>) while its reader notes answers
/// (<see cref="Answered"/>): the two touch separate fields. The rest runs between calls.
/// </remarks>
/// <param name="keepForReplay">
/// Keep the answered frames a new stream would need (their encoded images: with raw pixels
/// 5 of them can be large); false where no new stream will follow.
/// </param>
internal sealed class TrackFrames(IEnumerable<SourceFrame> source, FrameEncoder encoder, PromptPlan prompts, bool keepImages, bool keepForReplay)
    : IDisposable
{
    /// <summary>
    /// Answered unprompted frames replayed on a new stream: the reference memory policy's 5
    /// entries beside the prompted frame (every model served here ships it), so the new
    /// stream's memory holds the frames the old one would have.
    /// </summary>
    public const int RecentFramesReplayed = 5;

    private readonly IEnumerator<SourceFrame> _source = source.GetEnumerator();
    private readonly Queue<PendingFrame> _replay = new();
    private readonly LinkedList<PendingFrame> _sendAgain = new();
    private readonly List<PendingFrame> _prompted = [];
    private readonly Queue<PendingFrame> _recent = new();
    private ulong _nextIndex;

    /// <summary>The index of the first frame not answered yet.</summary>
    public ulong FirstUnanswered => _sendAgain.First?.Value.Index ?? _nextIndex;

    /// <summary>The next frame to send; false when every frame has been handed out.</summary>
    public bool TryNext(out PendingFrame frame)
    {
        if (_replay.TryDequeue(out frame!))
        {
            return true;
        }
        if (_sendAgain.First is { } first)
        {
            _sendAgain.RemoveFirst();
            frame = first.Value;
            return true;
        }
        if (!_source.MoveNext())
        {
            return false;
        }
        using var next = _source.Current;
        var request = new Sine.V1.TrackFrame { FrameIndex = _nextIndex, Image = encoder.Encode(next) };
        request.Prompts.AddRange(prompts.ForFrame(_nextIndex, next.Name));
        frame = new PendingFrame(_nextIndex, next.Name, request, keepImages ? next.TakeImage() : null);
        _nextIndex++;
        return true;
    }

    /// <summary>Notes an answered frame, for the memory of a stream that may follow.</summary>
    public void Answered(PendingFrame frame, bool succeeded)
    {
        // Nothing to keep when no new stream will follow, for a replay (kept already), or for
        // a frame that failed: it changed nothing on the server.
        if (!keepForReplay || frame.IsReplay || !succeeded)
        {
            return;
        }
        var kept = new PendingFrame(frame.Index, frame.Name, frame.Request, image: null, isReplay: true);
        if (frame.Request.Prompts.Count > 0)
        {
            _prompted.Add(kept);
            return;
        }
        _recent.Enqueue(kept);
        if (_recent.Count > RecentFramesReplayed)
        {
            _recent.Dequeue();
        }
    }

    /// <summary>Takes back the frames a stream that ended early left unanswered (oldest first): they go first again.</summary>
    public void Unanswered(IReadOnlyList<PendingFrame> frames)
    {
        for (var i = frames.Count - 1; i >= 0; i--)
        {
            if (frames[i].IsReplay)
            {
                frames[i].Dispose();
            }
            else
            {
                _sendAgain.AddFirst(frames[i]);
            }
        }
    }

    /// <summary>Queues the frames that rebuild the objects' memory on a new stream; returns how many.</summary>
    public int PrepareNewStream()
    {
        _replay.Clear();
        foreach (var frame in _prompted.Concat(_recent).OrderBy(f => f.Index))
        {
            _replay.Enqueue(frame);
        }
        return _replay.Count;
    }

    public void Dispose()
    {
        foreach (var frame in _sendAgain)
        {
            frame.Dispose();
        }
        _sendAgain.Clear();
        _source.Dispose();
    }
}
