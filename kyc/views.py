"""The operator's KYC page in the portal, and the audited view that serves documents to support staff."""

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import account_required

from . import selectors, services
from .forms import KYCForm
from .services import KYCError
from .storage import private_storage


@account_required
def kyc_page(request):
    account = request.account
    if not account.is_operator:
        raise Http404("Not an operator account")
    submission = selectors.kyc_submission_for_account(account=account)
    can_edit = bool(request.membership and request.membership.can_manage)
    if request.method == "POST":
        if not can_edit:
            messages.error(request, "Only the account's owners and admins can change its identity details.")
            return redirect("kyc")
        form = KYCForm(request.POST, request.FILES)
        if form.is_valid():
            submit = request.POST.get("action") == "submit"
            try:
                services.kyc_submission_update(account=account, user=request.user, **form.cleaned_data, submit=submit)
            except KYCError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(
                    request, "Submitted for review: we email you when staff decide." if submit else "Draft saved."
                )
                return redirect("kyc")
    else:
        initial = {}
        if submission is not None:
            initial = {
                "legal_name": submission.legal_name,
                "date_of_birth": submission.date_of_birth,
                "country": submission.country,
                "address": submission.address,
            }
        form = KYCForm(initial=initial)
    documents = selectors.kyc_documents_live(submission=submission) if submission else {}
    return render(
        request,
        "portal/kyc.html",
        {
            "section": "kyc",
            "form": form,
            "submission": submission,
            "documents": documents,
            "can_edit": can_edit and (submission is None or submission.is_editable),
        },
    )


@never_cache
@require_GET
def document_view(request, code):
    """Serve a KYC document to support staff, recording who looked and when; a 404 for everyone else
    (anonymous, buyers, operators, finance staff outside support), so its existence is never confirmed."""
    document = selectors.kyc_document_for_staff(user=request.user, code=code)
    if document is None:
        raise Http404
    services.kyc_document_view_record(document=document, actor=request.user)
    try:
        handle = private_storage.open(document.file.name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    # A neutral file name: never the uploader's, which might carry personal data into logs.
    filename = f"{document.kind}-{document.code}.{document.extension}"
    response = FileResponse(handle, content_type=document.content_type, filename=filename)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    # A PDF's scripts and forms stay inert even when opened directly.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response["Referrer-Policy"] = "no-referrer"
    return response
