using Google.Protobuf;
using SineGrpc.Client.Frames;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary>How a new stream gets back the memory of one the server ended early.</summary>
internal enum ResumeMode
{
    /// <summary>No new stream follows.</summary>
    None,

    /// <summary>The answered frames that rebuild the memory are sent again (dense-memory models).</summary>
    Replay,

    /// <summary>The last reply's <c>state</c> goes in the new stream's <c>resume_state</c> (token-memory models).</summary>
    State,
}

/// <summary>
/// The frames of one track, across the streams that carry it: what to send next, and what a
/// new stream needs when the server ended the last one early (a draining pod, a lost
/// connection). On a token-memory model the last reply's state carries the stream's memory
/// over; otherwise the memory is lost with the stream, so a new stream first gets the
/// answered frames that rebuild it (every prompted frame with its prompts, then the most
/// recent answered ones, in their order; their replies are dropped). Then come the frames
/// the last stream left unanswered, then the rest of the video.
/// </summary>
/// <remarks>
/// During a call its sender takes frames (<see cref="TryNext"/>) while its reader notes answers
/// (<see cref="Answered"/>): the two touch separate fields. The rest runs between calls.
/// </remarks>
internal sealed class TrackFrames(IEnumerable<SourceFrame> source, FrameEncoder encoder, PromptPlan prompts, bool keepImages, ResumeMode resume)
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

    /// <summary>The state of the last reply that carried one (<see cref="ResumeMode.State"/>); empty before.</summary>
    public ByteString LastState { get; private set; } = ByteString.Empty;

    /// <summary>The index of the frame <see cref="LastState"/> is the state after.</summary>
    public ulong LastStateFrame { get; private set; }

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
    public void Answered(PendingFrame frame, TrackResponse reply)
    {
        if (resume == ResumeMode.State && !reply.State.IsEmpty)
        {
            (LastState, LastStateFrame) = (reply.State, frame.Index);
        }
        // Nothing to keep when no replay will follow, for a replay (kept already), or for
        // a frame that failed or was skipped as stale: it changed nothing on the server.
        if (resume != ResumeMode.Replay || frame.IsReplay || reply.Error is not null || reply.Skipped)
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

    /// <summary>Queues the frames that rebuild the objects' memory on a new stream (none when it resumes from a state); returns how many.</summary>
    public int PrepareNewStream()
    {
        _replay.Clear();
        if (resume != ResumeMode.Replay)
        {
            return 0;
        }
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
