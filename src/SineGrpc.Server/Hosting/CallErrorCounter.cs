using Grpc.Core;
using Microsoft.AspNetCore.Http.Features;

namespace SineGrpc.Server.Hosting;

/// <summary>
/// Counts every sine.v1.Segmentation call that ends with a status other than OK in
/// sine_errors_total, from the status grpc-dotnet wrote for it. Counting here, rather than
/// in the service, also sees the calls that fail before a handler runs (a unary request that
/// is not valid protobuf, an unknown method), and counts each call exactly once. Frames that
/// fail inside a stream that goes on are counted by the service.
/// </summary>
internal sealed class CallErrorCounter(RequestDelegate next, ServiceMetrics metrics)
{
    private static readonly PathString ServicePath = "/" + Sine.V1.Segmentation.Descriptor.FullName;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments(ServicePath))
        {
            await next(context);
            return;
        }
        var endedOutside = new CallEndedOutside();
        context.Features.Set(endedOutside);
        try
        {
            await next(context);
        }
        finally
        {
            if (EndStatus(context, endedOutside) is { } status && status != StatusCode.OK)
                metrics.Error(status);
        }
    }

    private static StatusCode? EndStatus(HttpContext context, CallEndedOutside endedOutside)
    {
        // A call its client cancelled or its deadline ended: grpc-dotnet records the handler's
        // cancellation as UNKNOWN, and the client's reset can reach the handler as a failed
        // read before RequestAborted fires.
        if (endedOutside.Status is { } outside)
            return outside;
        var written = WrittenStatus(context);
        if (written == StatusCode.DeadlineExceeded)
            return written;
        return context.RequestAborted.IsCancellationRequested ? StatusCode.Cancelled : written;
    }

    // In trailers once the response has started, in the headers of a trailers-only response.
    private static StatusCode? WrittenStatus(HttpContext context)
    {
        var trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        string? value = trailers?["grpc-status"];
        if (string.IsNullOrEmpty(value))
            value = context.Response.Headers["grpc-status"];
        return int.TryParse(value, out var code) ? (StatusCode)code : null;
    }
}

/// <summary>
/// How a call ended from outside the service (its client cancelled it or went away, or its
/// deadline passed), as its handler saw it; set on the call's features for <see cref="CallErrorCounter"/>.
/// </summary>
internal sealed class CallEndedOutside
{
    public StatusCode? Status { get; set; }
}
