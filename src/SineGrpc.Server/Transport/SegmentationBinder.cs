using Google.Protobuf;
using Grpc.Core;
using Sine.V1;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace SineGrpc.Server.Transport;

/// <summary>
/// Binds <see cref="Services.SegmentationService"/> as the generated code does, but with
/// Track requests read by <see cref="TrackRequestDeserializer"/>, and a request that does
/// not parse refused with INVALID_ARGUMENT (grpc-dotnet would end the call with UNKNOWN
/// "Exception was thrown by handler."). grpc-dotnet finds this class through the
/// service's <see cref="BindServiceMethodAttribute"/>: it takes the attribute nearest to
/// the service type, so this one wins over the generated base's.
/// </summary>
internal static class SegmentationBinder
{
    /// <summary>The service's descriptor: server reflection looks it up on the attribute's type.</summary>
    public static ServiceDescriptor Descriptor => Segmentation.Descriptor;

    /// <summary>
    /// Called by grpc-dotnet through reflection (with a null service: it only collects the
    /// methods). The second parameter must be the generated base type, as grpc-dotnet
    /// matches the service's handlers against the methods that type declares.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, Segmentation.SegmentationBase? service) =>
        Segmentation.BindService(new RequestReadingBinder(binder), service);

    /// <summary>Passes every method on to the real binder with its request marshaller replaced.</summary>
    private sealed class RequestReadingBinder(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Checked(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Checked(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Checked(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            if (method is Method<TrackRequest, TrackResponse> track)
                inner.AddMethod(Checked(track, TrackRequestDeserializer.Deserialize), (DuplexStreamingServerMethod<TrackRequest, TrackResponse>?)(object?)handler);
            else
                inner.AddMethod(Checked(method), handler);
        }

        private static Method<TRequest, TResponse> Checked<TRequest, TResponse>(Method<TRequest, TResponse> method, Func<DeserializationContext, TRequest>? deserializer = null)
            where TRequest : class where TResponse : class
        {
            var read = deserializer ?? method.RequestMarshaller.ContextualDeserializer;
            var name = method.Name;
            return new(method.Type, method.ServiceName, method.Name,
                new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, context =>
                {
                    try
                    {
                        return read(context);
                    }
                    catch (InvalidProtocolBufferException e)
                    {
                        throw new RpcException(new Status(StatusCode.InvalidArgument, $"a {name} request message is not valid protobuf: {e.Message}"));
                    }
                }),
                method.ResponseMarshaller);
        }
    }
}
